"""Hostile and careless input, table-driven, through the command line's own entry point.

Every case asserts what issue 13 asks of the tool: exit code 2, one line on stderr naming
the culprit, no traceback, no file written outside the run's directories (run_dir,
mixtures_dir, reports_dir) and no stage marked done with broken output.
"""

from __future__ import annotations

import errno
import json
import shutil
import sys
from pathlib import Path

import pytest

from doremi.__main__ import main
from tests.conftest import TINY, domains_override, synthetic_domains, write_jsonl


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run `python -m doremi *args` in this process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["doremi", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A run with prepare and reference done (tiny), copied afresh for each case."""
    from hydra import compose, initialize_config_dir

    from doremi.__main__ import CONFIG_DIR
    from doremi.stages import run_stage

    root = tmp_path_factory.mktemp("upstream")
    files = synthetic_domains(root / "src", {"prose": "words", "numbers": "digits"}, n_docs=120, seed=3)
    overrides = [f"run_dir={root / 'run'}", f"mixtures_dir={root / 'mixtures'}", *TINY, domains_override(files)]
    overrides += ["trainer.max_steps=6", "checkpoint.every=0"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        for stage in ("prepare", "reference"):
            run_stage(compose(config_name="config", overrides=[*overrides, f"stage={stage}"]))
    return root, [o for o in overrides if not o.startswith(("run_dir=", "mixtures_dir="))]


@pytest.fixture
def case(tmp_path, upstream):
    """(sandbox, base arguments): the upstream run copied into tmp_path/box/run, with its own
    mixtures and reports directories; everything a case may write is under box/."""
    root, overrides = upstream
    box = tmp_path / "box"
    shutil.copytree(root / "run", box / "run")
    base = [f"run_dir={box / 'run'}", f"mixtures_dir={box / 'mixtures'}", f"reports_dir={box / 'reports'}", *overrides]
    return box, base


# --- settings refused at the door -------------------------------------------------------------
SETTINGS = [
    ("stage=proxy", "dro.eta=abc", "dro.eta=abc"),
    ("stage=proxy", "dro.eta=-1", "dro.eta=-1"),
    ("stage=proxy", "dro.eta=nan", "dro.eta=nan"),
    ("stage=proxy", "dro.eta=inf", "dro.eta=inf"),
    ("stage=proxy", "dro.smoothing=1.5", "dro.smoothing=1.5"),
    ("stage=proxy", "dro.normalize=bogus", "dro.normalize=bogus"),
    ("stage=proxy", "dro.sampling=sometimes", "dro.sampling=sometimes"),
    ("stage=proxy", "dro.warm_start=500", "dro.warm_start=500"),
    ("stage=proxy", "proxy.max_steps=0", "proxy.max_steps=0"),
    ("stage=reference", "trainer.max_steps=0", "trainer.max_steps=0"),
    ("stage=reference", "reference.batch_size=-4", "reference.batch_size=-4"),
    ("stage=final", "final.batch_size=0", "final.batch_size=0"),
    ("stage=final", "final.eval_every=0", "final.eval_every=0"),
    ("stage=final", "final.seeds=0", "final.seeds=0"),
    ("stage=proxy", "proxy.seeds=[1,1]", "proxy.seeds"),
    ("stage=reference", "model.n_head=3", "model.n_head=3"),
    ("stage=reference", "model.seq_len=0", "model.seq_len=0"),
    ("stage=reference", "optim.lr=0", "optim.lr=0"),
    ("stage=reference", "trainer.compile=maybe", "trainer.compile=maybe"),
    ("stage=reference", "trainer.logger=printer", "trainer.logger=printer"),
    ("stage=reference", "checkpoint.every=-1", "checkpoint.every=-1"),
    ("stage=prepare", "data.val_fraction=1.5", "data.val_fraction=1.5"),
    ("stage=prepare", "data.max_documents=-1", "data.max_documents=-1"),
    ("stage=prepare", "data.max_tokens=0", "data.max_tokens=0"),
    ("stage=sft_mix", "sft.budget=-5", "sft.budget=-5"),
    ("stage=sft_mix", "sft.dev_size=-1", "sft.dev_size=-1"),
    ("stage=sft_mix", "sft.temperature=0", "sft.temperature=0"),
    ("stage=proxy", "rounds=0", "rounds=0"),
    ("stage=report", "name=..", "name='..'"),
    ("stage=report", "name=", "name=''"),
    ("stage=report", "name=../../escaped", "name='../../escaped'"),
    ("stage=bogus", "seed=0", "stage=bogus"),
    ("stage=plan", "plan.token_budget=-5", "plan.token_budget=-5"),
    ("stage=plan", "plan.max_epochs=2", "plan.token_budget"),
    ("stage=export", "format=megatorn", "format=megatorn"),
    ("stage=export", "format=megatron mixture=nowhere.json", "nowhere.json"),
    ("stage=reference", "overwrite=true resume=/nonexistent/step-1.ckpt", "resume=/nonexistent/step-1.ckpt"),
    # refused before any work: a scale check's preset, lawa that could take no snapshot, a file named like a method
    ("stage=compare", "compare.check_scale=huge", "compare.check_scale=huge: not a model preset"),
    ("stage=swarm", "swarm.check_scale=huge", "swarm.check_scale=huge: not a model preset"),
    ("stage=final", "final.average=lawa final.lawa_every=500", "final.lawa_every=500"),
    ("stage=compare", "compare.methods=[doremi,stratified.json]", "which is the method stratified"),
    ("stage=sft_compare", "sft.compare.methods=[random,randomm]", "'randomm' is not an SFT set method"),
    ("stage=sft_mix", "sft.method=bogus", "sft.method: 'bogus' is not an SFT set method"),
]


@pytest.mark.parametrize("stage,setting,named", SETTINGS, ids=[s for _, s, _ in SETTINGS])
def test_a_bad_setting_is_refused_in_one_line(case, monkeypatch, capsys, stage, setting, named):
    box, base = case
    before = files_under(box)
    code, err = cli(monkeypatch, capsys, *base, stage, *setting.split(" "))
    assert_refused(box, before, code, err, named)


def assert_refused(box: Path, before: set[Path], code: int, err: str, named: str) -> None:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], err
    outside = {p for p in files_under(box.parent) if box not in p.parents}
    assert not outside, outside  # nothing written beside the run's directories
    for done in set(files_under(box)) - before:
        assert done.name != "done.json", done  # no stage newly marked done


# --- broken files, names, faults -----------------------------------------------------------
def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def nested(depth: int) -> str:
    return '{"weights": ' + "[" * depth + "]" * depth + "}"


def break_reference_model(box, monkeypatch, cleanup):
    truncate(box / "run" / "reference" / "model.pt")
    return ["stage=proxy"], "reference/model.pt"


def break_bin(box, monkeypatch, cleanup):
    truncate(next((box / "run" / "prepare" / "train").glob("*.bin")))
    return ["stage=reference", "overwrite=true"], ".bin"


def delete_bin(box, monkeypatch, cleanup):
    victim = next((box / "run" / "prepare" / "train").glob("*.bin"))
    victim.unlink()
    return ["stage=reference", "overwrite=true"], victim.name


def break_manifest(box, monkeypatch, cleanup):
    (box / "run" / "prepare" / "manifest.json").write_text('{"domains": [')
    return ["stage=reference", "overwrite=true"], "manifest.json"


def deep_mixture(box, monkeypatch, cleanup):
    (box / "deep.json").write_text(nested(5000))
    return ["stage=final", f"final.mixture={box / 'deep.json'}"], "deep.json"


def foreign_mixture(box, monkeypatch, cleanup):
    (box / "foreign.json").write_text(json.dumps({"weights": {"prose": 0.5, "poetry": 0.5}}))
    return ["stage=final", f"final.mixture={box / 'foreign.json'}"], "poetry"


def malformed_pool(box, monkeypatch, cleanup):
    pool = box / "pool.jsonl"
    pool.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "resp\n')
    return ["stage=sft_mix", f"sft.pools={{a: '{pool}'}}"], "pool.jsonl"


def null_content(box, monkeypatch, cleanup):
    pool = write_jsonl(
        box / "nulls.jsonl", [{"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "x"}]}]
    )
    return ["stage=sft_mix", f"sft.pools={{a: '{pool}'}}"], "nulls.jsonl"


def all_filtered(box, monkeypatch, cleanup):
    pool = write_jsonl(box / "short.jsonl", [{"prompt": f"q{i}", "response": "too short"} for i in range(5)])
    return ["stage=sft_mix", f"sft.pools={{a: '{pool}'}}", "sft.budget=2"], "sft.filters"


def empty_domain_name(box, monkeypatch, cleanup):
    src = write_jsonl(box / "x.jsonl", [{"text": f"some text {i}", "domain": ""} for i in range(3)])
    return ["stage=prepare", "overwrite=true", "data.domains=null", f"data.paths=['{src}']"], "x.jsonl"


def unknown_sft_count(box, monkeypatch, cleanup):
    pool = write_jsonl(box / "p.jsonl", [{"prompt": f"q{i}", "response": "r " * 700} for i in range(6)])
    return ["stage=sft_mix", f"sft.pools={{a: '{pool}'}}", "sft.counts={zzz: 3}"], "zzz"


def missing_reference(box, monkeypatch, cleanup):
    shutil.rmtree(box / "run" / "reference")
    return ["stage=proxy"], "stage=reference"


def disk_full(box, monkeypatch, cleanup):
    import torch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    return ["stage=reference", "overwrite=true"], "No space left on device"


def held_lock(box, monkeypatch, cleanup):
    from doremi.store.lock import stage_lock

    holder = stage_lock(box / "run", "reference")
    holder.__enter__()  # held by this test as if by another process
    cleanup.append(lambda: holder.__exit__(None, None, None))
    return ["stage=reference", "overwrite=true"], "already running"


FAULTS = [
    break_reference_model,
    break_bin,
    delete_bin,
    break_manifest,
    deep_mixture,
    foreign_mixture,
    malformed_pool,
    null_content,
    all_filtered,
    empty_domain_name,
    unknown_sft_count,
    missing_reference,
    disk_full,
    held_lock,
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_a_broken_input_or_fault_is_named_in_one_line(case, monkeypatch, capsys, fault):
    box, base = case
    cleanup = []
    try:
        args, named = fault(box, monkeypatch, cleanup)
        before = files_under(box)
        code, err = cli(monkeypatch, capsys, *base, *args)
    finally:
        for undo in cleanup:
            undo()
    assert_refused(box, before, code, err, named)
    assert not list(box.rglob("*.tmp")), list(box.rglob("*.tmp"))  # no half-written file left behind
