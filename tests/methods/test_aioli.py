"""Aioli: its math against planted answers, and in the final run: related domains gain weight and a killed run
resumes bit for bit (replay is the shared online callback's, tested with ODM in tests/methods/test_online.py)."""

import json

import numpy as np
import pytest

from doremi.methods.aioli import rules as aioli
from doremi.stages import run_stage
from tests.conftest import crash_then_resume, domains_override, synthetic_domains


def test_unmix_recovers_the_per_domain_effects_behind_smoothed_one_hot_batches():
    rng = np.random.default_rng(0)
    planted = rng.normal(size=(4, 4))
    mixtures = np.stack([aioli.smoothed_one_hot(4, j, 0.625) for j in range(4)])
    observed = planted @ mixtures.T  # column j: the loss drops training on mixture j causes
    assert np.allclose(aioli.unmix(observed, 0.625), planted)
    assert np.allclose(aioli.unmix(observed, 1.0), observed)  # no smoothing, nothing to unmix


def test_the_update_favours_the_domain_whose_training_lowers_the_most_loss():
    graph = aioli.normalize(np.array([[0.3, 0.3, 0.0], [0.3, 0.3, 0.0], [-0.1, 0.0, 0.2]]))
    assert graph.min() == 0 and graph.sum() == pytest.approx(1.0)
    weights = aioli.update(np.full(3, 1 / 3), graph, eta=0.2)
    assert weights[0] > weights[2] and weights.sum() == pytest.approx(1.0)
    assert sorted(aioli.sweep_order(3, 2, np.random.default_rng(1))) == [0, 0, 1, 1, 2, 2]


def schedule_of(seed_dir):
    return [json.loads(line) for line in (seed_dir / "schedule.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_aioli_moves_weight_to_related_domains_and_resumes_exactly(tmp_path, make_cfg, monkeypatch):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=150, seed=3)
    files.update(synthetic_domains(tmp_path / "src2", {"prose2": "words"}, n_docs=150, seed=9))
    base = [domains_override(files), "method=aioli", "aioli.update_steps=20", "trainer.max_steps=80",
            "final.baselines=[]", "final.eval_every=40", "checkpoint.every=10"]  # fmt: skip
    run_stage(make_cfg(*base, "stage=prepare"))
    run_stage(make_cfg(*base, "stage=learn"))
    run_stage(make_cfg(*base, "stage=final"))
    seed_dir = tmp_path / "run" / "final" / "aioli" / "seed-0"
    schedule = schedule_of(seed_dir)
    probes = [e for e in schedule if "probe" in e]
    updates = [e for e in schedule if "probe" not in e][1:]
    assert len(updates) == 4 and len(probes) == 4 * 3  # a round every 20 steps, a segment per domain
    later = [p["step"] for p in probes[1:]]
    assert all(b - a == 4 for a, b in zip(later, later[1:]) if b - a < 10)  # every segment trains lp_steps=4 batches
    # training on prose lowers prose2's loss and the reverse; digits help only themselves: weight moves to prose
    last = updates[-1]["weights"]
    assert last["prose"] + last["prose2"] > 2 / 3 > 1 / 3 > last["numbers"]
    history = json.loads((seed_dir / "result.json").read_text())["history"]

    # killed after the step-30 checkpoint (inside a LearnParams sweep), resumed: the same schedule and losses
    killed = tmp_path / "killed"
    other = [*base, f"run_dir={killed}", f"mixtures_dir={killed}-mixtures"]
    run_stage(make_cfg(*other, "stage=prepare"))
    run_stage(make_cfg(*other, "stage=learn"))
    crash_then_resume(monkeypatch, make_cfg, other, step=33)
    resumed = killed / "final" / "aioli" / "seed-0"
    assert (resumed / "schedule.jsonl").read_text() == (seed_dir / "schedule.jsonl").read_text()
    assert json.loads((resumed / "result.json").read_text())["history"] == history
