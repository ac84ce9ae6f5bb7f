"""The learning-rate schedule every pretraining stage uses: linear warmup, cosine to min_lr_ratio."""

import pytest
import torch

from doremi.training.lm import make_optimizer

OPTIM = {"lr": 2.0, "betas": [0.9, 0.95], "weight_decay": 0.0, "min_lr_ratio": 0.1}


def rates(warmup: int, steps: int) -> list[float]:
    scheduler = make_optimizer([torch.nn.Parameter(torch.zeros(1))], {**OPTIM, "warmup_steps": warmup}, steps)
    sched = scheduler["lr_scheduler"]["scheduler"]
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    "warmup, steps, peak_at",
    [(10, 300, 9), (100, 300, 99), (100, 60, 19), (20, 60, 19), (0, 30, 0)],  # at most a third of the run warms up
)
def test_warmup_reaches_the_peak_then_decays_to_the_floor(warmup, steps, peak_at):
    found = rates(warmup, steps)
    assert max(found) == pytest.approx(2.0) and found.index(max(found)) == peak_at
    assert all(a < b for a, b in zip(found[:peak_at], found[1 : peak_at + 1]))  # rising
    assert all(a >= b for a, b in zip(found[peak_at:], found[peak_at + 1 :]))  # then falling
    assert found[-1] == pytest.approx(0.2, abs=0.01)  # ends near lr x min_lr_ratio
