"""Shared test helpers: configs composed through Hydra, tiny settings, synthetic corpora."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # workers share the cores: each takes its share of threads (subprocesses too)
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _threads

import pytest
from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist each worker is first sent one contiguous half of the list and steals from the end of the
    other's: the modules with slow tests are shared out between the two halves and put at the start of each, so
    that no long test is left running alone at the end. A module's tests stay together (its fixtures stay up)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") and config.getoption("dist", "no") == "no":
        return
    modules: dict = {}
    for item in items:
        modules.setdefault(item.module.__name__ if item.module else item.nodeid, []).append(item)
    slow = lambda group: sum(1 for i in group if i.get_closest_marker("slow"))  # noqa: E731
    heavy = sorted((g for g in modules.values() if slow(g)), key=slow, reverse=True)
    light = [i for g in modules.values() if not slow(g) for i in g]
    halves: list[list] = [[], []]
    weight = [0, 0]
    for group in heavy:
        side = 0 if weight[0] <= weight[1] else 1
        halves[side] += group
        weight[side] += slow(group)
    half = len(items) // 2
    while light and len(halves[0]) < half:
        halves[0].append(light.pop(0))
    items[:] = halves[0] + halves[1] + light


# A model and schedule small enough that a whole pipeline runs in seconds on a CPU.
TINY = [
    "model.seq_len=32",
    "model.n_layer=1",
    "model.n_head=2",
    "model.d_model=32",
    "trainer.max_steps=20",
    "trainer.batch_size=8",
    "trainer.progress_lines=2",
    "optim.warmup_steps=2",
    "final.eval_every=10",
    "final.eval_chunks=4",
    "final.seeds=1",
]


@pytest.fixture
def make_cfg(tmp_path):
    """make_cfg(*overrides) -> a composed config writing everything under tmp_path."""

    def _make(*overrides: str):
        base = [
            f"run_dir={tmp_path / 'run'}",
            f"mixtures_dir={tmp_path / 'mixtures'}",
            f"reports_dir={tmp_path / 'reports'}",
        ]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[*base, *TINY, *overrides])

    return _make


WORDS = "the of and to in is was for on that with as by at from his her it an be this which or".split()


def words_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)) + "."


def digits_text(rng: random.Random, n_chars: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n_chars))


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def synthetic_domains(root: Path, domains: dict[str, str], n_docs: int = 200, seed: int = 0) -> dict[str, str]:
    """Write one JSONL file per domain; kind 'words' or 'digits'. Same kind + seed = same text."""
    files = {}
    for name, kind in domains.items():
        rng = random.Random(f"{kind}-{seed}")
        make = words_text if kind == "words" else digits_text
        texts = [make(rng, rng.randint(30, 60)) for _ in range(n_docs)]
        files[name] = str(write_jsonl(root / f"{name}.jsonl", [{"text": t} for t in texts]))
    return files


def domains_override(files: dict[str, str]) -> str:
    return "data.domains={" + ",".join(f"{k}:'{v}'" for k, v in files.items()) + "}"


@pytest.fixture
def prepared(tmp_path, make_cfg):
    """A prepared run of three small synthetic domains: (cfg, PackedData)."""
    from doremi.data.packing import PackedData
    from doremi.stages import run_stage

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits", "more": "words"}, seed=1)
    cfg = make_cfg(domains_override(files), "stage=prepare")
    run_stage(cfg)
    return cfg, PackedData(tmp_path / "run" / "prepare")


def crash_then_resume(monkeypatch, make_cfg, overrides: list[str], step: int) -> None:
    """stage=final killed right after the checkpoint callback's work at `step`, then rerun with resume=auto."""
    from doremi.stages import run_stage
    from doremi.training.callbacks import Checkpoints

    save = Checkpoints.on_train_batch_end

    def crash(self, trainer, *args):
        save(self, trainer, *args)
        if trainer.global_step == step:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(Checkpoints, "on_train_batch_end", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_stage(make_cfg(*overrides, "stage=final"))
    monkeypatch.setattr(Checkpoints, "on_train_batch_end", save)
    run_stage(make_cfg(*overrides, "stage=final", "resume=auto"))
