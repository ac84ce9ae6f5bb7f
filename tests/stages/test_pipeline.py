"""Tiny end-to-end runs composed through Hydra's compose API."""

import json
import math

import pytest

from doremi.config.errors import DoremiError
from doremi.data.mixture import load_mixture
from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains


def replay_trajectory(run_dir):
    """Recompute every alpha_t from the logged lambda_t (DESIGN.md) and the mean; return max errors."""
    mixture = json.loads((run_dir / "proxy" / "mixture.json").read_text())
    domains, prov = mixture["domains"], mixture["provenance"]
    eta, c, k = prov["eta"], prov["smoothing"], len(domains)
    prev = [1 / k] * k
    records = [json.loads(line) for line in (run_dir / "proxy" / "trajectory.jsonl").read_text().splitlines()]
    worst, total = 0.0, [0.0] * k
    for rec in records:
        logits = [math.log(p) + eta * rec["excess"][d] for p, d in zip(prev, domains)]
        z = sum(math.exp(x - max(logits)) for x in logits)
        want = [(1 - c) * math.exp(x - max(logits)) / z + c / k for x in logits]
        got = [rec["weights"][d] for d in domains]
        worst = max(worst, *(abs(g - w) for g, w in zip(got, want)))
        total = [t + g for t, g in zip(total, got)]
        prev = got
    mean_error = max(abs(t / len(records) - mixture["weights"][d]) for t, d in zip(total, domains))
    return len(records), worst, mean_error


@pytest.mark.slow
def test_whole_pipeline_writes_every_artifact(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=150)
    cfg = make_cfg(domains_override(files), "name=tiny")
    run_stage(cfg)
    run = tmp_path / "run"

    manifest = json.loads((run / "prepare" / "manifest.json").read_text())
    assert manifest["domains"] == ["numbers", "prose"]

    steps, update_error, mean_error = replay_trajectory(run)
    assert steps == 20 and update_error < 1e-9 and mean_error < 1e-9

    mixture = json.loads((run / "proxy" / "mixture.json").read_text())
    assert mixture["format"] == "doremi-mixture/v1" and mixture["unit"] == "tokens"
    assert abs(sum(mixture["weights"].values()) - 1) < 1e-9
    assert mixture["train_domain_weights"] == mixture["weights"]
    assert set(mixture["baseline_weights"]) >= {"uniform", "natural"}
    for key in (
        "method",
        "eta",
        "smoothing",
        "steps",
        "rounds",
        "seed",
        "tokenizer",
        "data_hash",
        "config",
        "code_version",
    ):
        assert key in mixture["provenance"]
    assert load_mixture(tmp_path / "mixtures" / "tiny.json") == mixture["weights"]

    evaluation = json.loads((run / "final" / "eval.json").read_text())
    assert set(evaluation["mixtures"]) == {"doremi", "stratified", "natural"}
    for result in evaluation["mixtures"].values():
        assert set(result["losses"]) == {"numbers", "prose"}
        assert result["worst"]["loss"] == max(result["losses"].values())
        assert [h["step"] for h in result["history"]] == [10, 20]
    assert set(evaluation["doremi_steps_to_baseline"]) == {"stratified", "natural"}
    # passes = sequences drawn / chunks: 20 steps x 8 sequences (Lightning may fetch one batch ahead)
    chunks = {d: manifest["splits"]["train"][d]["chunks"] for d in manifest["domains"]}
    for result in evaluation["mixtures"].values():
        drawn = sum(result["passes"][d] * chunks[d] for d in chunks)
        assert 160 - 0.01 <= drawn <= 168 + 0.01

    # Lightning's CSV log carries the loss, excess and weight of every domain each step
    header = (run / "proxy" / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "excess/prose", "weight/numbers"} <= set(header)

    report = tmp_path / "reports" / "tiny"
    for name in (
        "weights.png",
        "weights_over_steps.png",
        "domain_loss.png",
        "loss_over_steps.png",
        "report.md",
        "report.html",
    ):
        assert (report / name).stat().st_size > 0
    assert "prose" in (report / "report.md").read_text()


@pytest.mark.slow
def test_finished_stage_is_reused_and_changed_settings_are_refused(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"a": "words", "b": "digits"}, n_docs=120)
    cfg = make_cfg(domains_override(files), "stage=reference")
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    run_stage(cfg)
    stamp = (tmp_path / "run" / "reference" / "model.pt").stat().st_mtime_ns
    run_stage(cfg)  # same settings: reused
    assert (tmp_path / "run" / "reference" / "model.pt").stat().st_mtime_ns == stamp
    with pytest.raises(DoremiError, match="reference.max_steps"):
        run_stage(make_cfg(domains_override(files), "stage=reference", "reference.max_steps=5"))


def test_missing_input_artifact_names_the_stage_to_run(tmp_path, make_cfg):
    with pytest.raises(DoremiError, match="stage=prepare"):
        run_stage(make_cfg("stage=proxy"))


def test_unknown_stage_lists_the_stages(make_cfg):
    with pytest.raises(DoremiError, match="closest: proxy"):
        run_stage(make_cfg("stage=proxi"))
