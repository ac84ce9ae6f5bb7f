"""Every Python example of the docs runs as written, in a folder where the quick start's files are (a tiny prepared
demo run and a final model of it); the names an example leaves to its reader's program (their Lightning module and
Trainer, their Hugging Face model and arguments) are given tiny real ones. A page's examples run in order in one
namespace, as a reader pastes them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.test_docs import ROOT, blocks

# the quick start's final model is doremi's; the tiny run here trains stratified's (no proxy to train)
PATHS = {"runs/demo/final/doremi/": "runs/demo/final/stratified/"}


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory) -> Path:
    """A folder holding runs/demo (prepared, a final model with its Hugging Face checkpoint), mixtures/demo.json,
    mine.json and the tutorial's Megatron export demo.txt."""
    from hydra import compose, initialize_config_dir

    from doremi.__main__ import CONFIG_DIR
    from doremi.stages import run_stage

    root = tmp_path_factory.mktemp("quick-start")
    common = [f"run_dir={root / 'runs/demo'}", f"mixtures_dir={root / 'mixtures'}", f"reports_dir={root / 'reports'}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        for stage in ("prepare", "learn", "final"):
            run_stage(compose(config_name="config", overrides=[*common, *TINY, f"stage={stage}", "method=stratified"]))
    (root / "mixtures").mkdir(exist_ok=True)
    shutil.copy(ROOT / "mixtures" / "demo.json", root / "mixtures" / "demo.json")
    (root / "mine.json").write_text(json.dumps({"weights": {"a": 0.25, "b": 0.75}}))
    export = [
        sys.executable,
        "-m",
        "doremi",
        "stage=export",
        "mixture=mixtures/demo.json",
        "format=megatron",
        "out=demo.txt",
    ]
    subprocess.run(export, cwd=root, check=True, capture_output=True)  # the tutorial's export, for Megatron's reader
    return root


def readers_program(root: Path) -> dict:
    """What the examples leave to the reader: a Lightning module and Trainer, a Hugging Face model and arguments."""
    import pytorch_lightning as pl
    import torch
    import transformers

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(512, 8)
            self.out = torch.nn.Linear(8, 512)

        def training_step(self, batch, _):
            logits = self.out(self.embed(batch["input"]))
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["target"].flatten().long())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return {
        "my_lightning_module": Tiny(),
        "trainer": pl.Trainer(
            max_steps=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            default_root_dir=str(root),
        ),  # fmt: skip
        "transformers": transformers,
        "model": transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=300)),
        "args": transformers.TrainingArguments(
            output_dir=str(root / "hf-out"), max_steps=1, report_to=[], per_device_train_batch_size=16, use_cpu=True
        ),  # fmt: skip
    }


def pages() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for page, code in blocks("python"):
        out[page].append(code)
    return dict(out)


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(pages()))
def test_every_python_example_of_the_docs_runs_as_written(quick_start, monkeypatch, page):
    import sys
    import types

    monkeypatch.chdir(quick_start)
    module = types.ModuleType(f"docs_example_{Path(page).stem}")  # a dataclass of an example needs its module
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    namespace.update(readers_program(quick_start))
    for code in pages()[page]:
        for written, here in PATHS.items():
            code = code.replace(written, here)
        exec(compile(code, page, "exec"), namespace)  # noqa: S102  (the docs' own examples, run as written)
