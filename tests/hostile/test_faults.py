"""Faults beyond a bad value: publishing that fails and is repaired, names that try to leave
the run, two processes on one stage, a changed input that marks a stage stale, loggers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from doremi.config.errors import DoremiError
from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains, write_jsonl
from tests.hostile.test_bad_input import cli, files_under

FAST = ["trainer.max_steps=4", "checkpoint.every=0"]


@pytest.fixture
def proxied(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=100, seed=5)
    overrides = [domains_override(files), *FAST]
    for stage in ("prepare", "reference", "proxy"):
        run_stage(make_cfg(*overrides, f"stage={stage}"))
    return overrides


def test_a_missing_published_mixture_is_repaired_by_a_rerun(tmp_path, make_cfg, proxied, capsys):
    published = tmp_path / "mixtures" / "demo.json"
    learned = (tmp_path / "run" / "proxy" / "mixture.json").read_bytes()
    assert published.read_bytes() == learned
    published.unlink()
    run_stage(make_cfg(*proxied, "stage=proxy"))
    assert published.read_bytes() == learned
    assert "published it again" in capsys.readouterr().err


def test_a_mixture_that_cannot_be_published_leaves_the_stage_not_done(tmp_path, make_cfg, monkeypatch, capsys):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=100, seed=5)
    (tmp_path / "blocked").write_text("a file where the mixtures directory should be")
    base = [f"run_dir={tmp_path / 'run'}", f"mixtures_dir={tmp_path / 'blocked'}", domains_override(files), *FAST]
    for stage in ("prepare", "reference"):
        run_stage(make_cfg(*base[2:], f"stage={stage}"))
    code, err = cli(
        monkeypatch,
        capsys,
        *base,
        "model.seq_len=32",
        "model.n_layer=1",
        "model.d_model=32",
        "model.n_head=2",
        "trainer.batch_size=8",
        "stage=proxy",
    )
    assert code == 2 and "Traceback" not in err and "blocked" in err.splitlines()[-1]
    assert not (tmp_path / "run" / "proxy" / "done.json").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_names_from_data_never_leave_the_run(tmp_path, make_cfg):
    text = "the of and to in is was for on that with as by at from".split()
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [
            {"source": name, "prompt": f"question {i} " + " ".join(text), "response": " ".join(text * 20) + f" {i}"}
            for name in ("../../../SFTESC", "plain")
            for i in range(6)
        ],
    )
    before = files_under(tmp_path)
    cfg = make_cfg(
        "stage=sft_mix",
        f"sft.paths=['{pool}']",
        "sft.budget=6",
        "sft.dev_size=2",
        "sft.filters.min_chars=10",
        "sft.dedup.near=false",
    )
    run_stage(cfg)
    written = files_under(tmp_path) - before
    assert written and all((tmp_path / "run") in p.parents for p in written), written
    sources = {p.name for p in (tmp_path / "run" / "sft_mix" / "sources").glob("*.jsonl")}
    assert sources == {"..%2F..%2F..%2FSFTESC.jsonl", "plain.jsonl"}
    manifest = json.loads((tmp_path / "run" / "sft_mix" / "manifest.json").read_text())
    assert manifest["train"]["../../../SFTESC"] > 0  # the source keeps its name; only its file is encoded


def test_a_domain_named_like_a_path_stays_inside_the_run(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"a": "words", "b": "digits"}, n_docs=80, seed=2)
    names = {"a": "../../../ESCAPED", "b": "x/y"}
    records = [
        {"text": json.loads(line)["text"], "domain": names[d]}
        for d, path in files.items()
        for line in Path(path).read_text().splitlines()
    ]
    mixed = write_jsonl(tmp_path / "src" / "mixed.jsonl", records)
    before = files_under(tmp_path)
    for stage in ("prepare", "reference", "proxy"):
        run_stage(make_cfg(f"data.paths=['{mixed}']", *FAST, "proxy.reference_cache=true", f"stage={stage}"))
    written = files_under(tmp_path) - before
    inside = (tmp_path / "run", tmp_path / "mixtures")
    assert all(any(d in p.parents for d in inside) for p in written), written
    weights = json.loads((tmp_path / "mixtures" / "demo.json").read_text())["weights"]
    assert set(weights) == set(names.values())


HOLD = """
import sys
from doremi.store.lock import stage_lock
with stage_lock(sys.argv[1], "reference"):
    print("held", flush=True)
    sys.stdin.readline()  # hold the lock until the test writes a line
"""


def test_two_processes_on_one_stage_one_stops_naming_the_holder(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"a": "words", "b": "digits"}, n_docs=100, seed=4)
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    tiny = ["model.seq_len=32", "model.n_layer=1", "model.n_head=2", "model.d_model=32", "trainer.batch_size=8"]
    args = [sys.executable, "-m", "doremi", "stage=reference", f"run_dir={tmp_path / 'run'}", *tiny]
    args += ["trainer.max_steps=4", "checkpoint.every=0"]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    second = subprocess.run(args, capture_output=True, text=True)
    holder.communicate("release\n", timeout=60)
    assert second.returncode == 2 and "already running" in second.stderr and f"process {holder.pid}" in second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "reference").exists() and not (tmp_path / "run" / "reference.partial").exists()
    run_stage(make_cfg(domains_override(files), "stage=reference", *tiny, "trainer.max_steps=4", "checkpoint.every=0"))  # the holder is gone: the stage runs  # fmt: skip
    assert (tmp_path / "run" / "reference" / "done.json").exists()


def test_a_changed_input_stage_marks_the_stage_stale(tmp_path, make_cfg, proxied):
    run_stage(make_cfg(*proxied, "stage=prepare", "overwrite=true", "data.val_fraction=0.2"))
    with pytest.raises(DoremiError, match="prepare, which was redone since: what stage=reference made is stale"):
        run_stage(make_cfg(*proxied, "stage=proxy"))


def test_tensorboard_logger_writes_event_files(tmp_path, make_cfg, proxied):
    run_stage(make_cfg(*proxied, "stage=reference", "overwrite=true", "trainer.logger=tensorboard"))
    assert list((tmp_path / "run" / "reference" / "logs").glob("events.out.tfevents.*"))
    assert not (tmp_path / "run" / "reference" / "logs" / "metrics.csv").exists()
