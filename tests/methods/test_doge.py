"""DoGE: the weight update against a hand computation, and the planted case: a target of one domain's kind of text
pulls the weight to that domain."""

import json
import random

import pytest
import torch

from doremi.methods.doge import rule
from doremi.stages import run_stage
from tests.conftest import digits_text, domains_override, synthetic_domains, write_jsonl


def test_scores_and_step_match_a_hand_computation():
    grads = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    aim = torch.tensor([2.0, 0.0], dtype=torch.float64)
    mean_norm = (1.0 + 2.0 + 2**0.5) / 3
    got = rule.scores(grads, aim, lr=0.1, dw_min=0.0, dw_max=5.0)
    want = torch.tensor([0.1 * 2 / mean_norm, 0.0, 0.1 * 2 / mean_norm], dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-6)
    # clipped at lr x dw_max, and at lr x dw_min below
    assert float(rule.scores(grads, 100 * aim, 0.1, 0.0, 5.0).max()) == pytest.approx(0.5)
    assert float(rule.scores(grads, -aim, 0.1, 0.0, 5.0).min()) == 0.0
    # in-domain: each domain against the others' sum (domain 0: <g0, g1> + <g0, g2> = 0 + 1)
    inside = rule.scores(grads, None, 1.0, -10.0, 10.0)
    assert float(inside[0]) == pytest.approx(1.0 / mean_norm, abs=1e-6)
    w = torch.full((3,), 1 / 3, dtype=torch.float64)
    moved = rule.step(w, got, mu=0.05)
    expected = torch.softmax(torch.log(w) + got / 0.05, dim=0)
    assert torch.allclose(moved, expected) and float(moved.sum()) == pytest.approx(1.0)
    assert moved[0] > moved[1] and moved[0] == pytest.approx(float(moved[2]))


@pytest.mark.slow
def test_doge_leans_to_the_domain_of_your_target_s_kind(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, seed=1)
    rng = random.Random("doge-target")
    target = write_jsonl(tmp_path / "mine.jsonl", [{"text": digits_text(rng, 80)} for _ in range(16)])
    base = [domains_override(files), f"target.paths=[{target}]", "doge.steps=40"]
    run_stage(make_cfg(*base, "stage=prepare"))
    run_stage(make_cfg(*base, "stage=learn", "method=doge"))
    mixture = json.loads((tmp_path / "run" / "learn" / "doge" / "mixture.json").read_text())
    assert mixture["provenance"]["target"]["kind"] == "external"
    assert mixture["weights"]["numbers"] > 0.6, mixture["weights"]
    assert mixture["provenance"]["cost"]["flops"] > 0
