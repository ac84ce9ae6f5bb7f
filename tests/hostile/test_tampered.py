"""Files read unchecked and errors that named the wrong key (issue 32), through the command line: every case is
one line naming the file or key, exit code 2, no traceback, and the stage it ran not marked done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY, domains_override, synthetic_domains, write_jsonl
from tests.hostile.test_bad_input import cli


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run with prepare, learn (reference, proxy) and final done (tiny, one seed), copied afresh for each case."""
    from hydra import compose, initialize_config_dir

    from doremi.__main__ import CONFIG_DIR
    from doremi.stages import run_stage

    root = tmp_path_factory.mktemp("finished")
    files = synthetic_domains(root / "src", {"prose": "words", "numbers": "digits"}, n_docs=120, seed=3)
    overrides = [*TINY, domains_override(files), "trainer.max_steps=6", "checkpoint.every=0", "final.eval_every=3"]
    where = [f"run_dir={root / 'run'}", f"mixtures_dir={root / 'mixtures'}", f"reports_dir={root / 'reports'}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        for stage in ("prepare", "learn", "final"):  # learn runs reference and proxy first
            run_stage(compose(config_name="config", overrides=[*where, *overrides, f"stage={stage}"]))
    return root, overrides


@pytest.fixture
def run(tmp_path, finished):
    root, overrides = finished
    box = tmp_path / "box"
    shutil.copytree(root / "run", box / "run")
    shutil.copytree(root / "mixtures", box / "mixtures")
    base = [f"run_dir={box / 'run'}", f"mixtures_dir={box / 'mixtures'}", f"reports_dir={box / 'reports'}", *overrides]
    return box, base


def one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    for needle in needles:
        assert needle in line, line
    return line


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def test_an_edited_eval_json_is_named_not_divided_by_zero(run, monkeypatch, capsys):
    box, base = run
    edit_json(box / "run/final/eval.json", lambda v: v.update(mixtures={}))
    one_line(*cli(monkeypatch, capsys, *base, "stage=report"), "eval.json", "stage=final")
    assert not (box / "reports" / "demo").exists()


def test_an_edited_manifest_is_not_trained_on(run, monkeypatch, capsys):
    box, base = run
    edit_json(box / "run/prepare/manifest.json", lambda v: v["domains"].pop())
    one_line(*cli(monkeypatch, capsys, *base, "stage=reference", "overwrite=true"), "manifest.json", "stage=prepare")
    assert (box / "run/reference/done.json").exists()  # the old, finished reference stays in place


def test_a_deleted_done_json_makes_what_was_derived_stale(run, monkeypatch, capsys):
    box, base = run
    (box / "run/proxy/done.json").unlink()
    line = one_line(*cli(monkeypatch, capsys, *base, "stage=final", "overwrite=true"), "proxy")
    assert "not finished" in line or "stale" in line


def test_a_foreign_checkpoint_is_refused_before_lightning_resumes(run, tmp_path, monkeypatch, capsys):
    box, base = run
    checkpoints = box / "run/reference.partial/checkpoints"
    checkpoints.mkdir(parents=True)
    # a checkpoint of another run: three domains where this run has two
    state = {"state_dict": {"model.wte.weight": torch.zeros(3, 3)}, "hyper_parameters": {"domains": ["a", "b", "c"]}}
    torch.save(state, checkpoints / "step-000004.ckpt")
    from hydra import compose, initialize_config_dir

    from doremi.__main__ import CONFIG_DIR
    from doremi.pipeline.common import stage_settings

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*base, "stage=reference"])
    # planted where resume=auto looks, under this stage's own settings, so that it would be resumed
    (box / "run/reference.partial/settings.json").write_text(json.dumps(stage_settings(cfg, "reference")))
    code, err = cli(monkeypatch, capsys, *base, "stage=reference", "resume=auto", "overwrite=true")
    assert "continuing the interrupted run" in err
    one_line(code, err, "step-000004.ckpt", "another run")


def test_a_huge_integer_weight_is_one_line(run, tmp_path, monkeypatch, capsys):
    box, base = run
    mixture = tmp_path / "m.json"
    mixture.write_text('{"weights": {"prose": 1' + "0" * 5000 + ', "numbers": 1}}')
    one_line(
        *cli(monkeypatch, capsys, *base, "stage=final", f"final.mixture={mixture}", "overwrite=true"), "m.json", "prose"
    )


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["plan.token_budget=1000", "plan.pin={prose: -0.1}"], "plan.pin"),
        (["plan.token_budget=1000", "plan.tokenizer=/nonexistent/tok.json"], "plan.tokenizer=/nonexistent/tok.json"),
    ],
)
def test_plan_errors_name_the_plan_key(run, monkeypatch, capsys, extra, needle):
    box, base = run
    one_line(*cli(monkeypatch, capsys, *base, "stage=plan", *extra), needle)


def test_a_symlinked_report_folder_is_named_as_a_link(run, tmp_path, monkeypatch, capsys):
    box, base = run
    (box / "reports").mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (box / "reports" / "demo.partial").symlink_to(target)
    one_line(*cli(monkeypatch, capsys, *base, "stage=report"), "demo.partial", "symbolic link")
    assert target.exists() and not list(target.iterdir())


@pytest.mark.parametrize(
    "records, extra, needle",
    [
        ([{"text": "a b c " * 20, "domain": {"name": "x"}}], [], "holds a JSON object"),
        ([{"text": "a b c " * 20, "domain": "x"}, {"text": "d e f " * 20, "domain": "y"}], ["data.domain_map={x: null, y: null}"], "data.domain_map drops every domain"),
    ],
)  # fmt: skip
def test_data_errors_name_what_is_wrong(tmp_path, monkeypatch, capsys, records, extra, needle):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    args = [f"run_dir={tmp_path / 'run'}", f"mixtures_dir={tmp_path / 'm'}", f"data.paths=[{corpus}]", "stage=prepare"]
    one_line(*cli(monkeypatch, capsys, *args, *extra), needle)
    assert not (tmp_path / "run" / "prepare" / "done.json").exists()
