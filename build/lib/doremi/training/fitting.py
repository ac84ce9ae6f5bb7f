"""Train one plain language model with the run's settings on a mixture of the prepared data, and save it: what
stage=reference, DoReMi's rounds, stage=final, the compares' trials and the swarm share."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from doremi.config import settings
from doremi.config.settings import OptimSettings, TrainerSettings
from doremi.data.heldout import HeldOut
from doremi.data.loaders import MixtureDataModule
from doremi.data.packing import PackedData
from doremi.store.checkpoints import save_model
from doremi.store.runtime import is_main_process, say
from doremi.training.averaging import WeightAverage, score_alternatives
from doremi.training.lm import LMModule, maybe_compile
from doremi.training.model import build_model, describe, model_config
from doremi.training.model.hf_checkpoint import save_hf
from doremi.training.shard import whole
from doremi.training.train import fit


def fit_lm(
    cfg: DictConfig,
    data: PackedData,
    weights: list[float],
    stage_cfg: DictConfig,
    out_dir: Path,
    label: str,
    eval_every: int | None = None,
    heldout: HeldOut | None = None,
    seed: int | None = None,
    callbacks: list | None = None,
) -> LMModule:
    """Train a fresh model (seeded by `seed`, default the run's) on batches drawn with `weights`;
    with `eval_every`, score it on `heldout` every so many steps and at the end."""
    seed = int(cfg.seed if seed is None else seed)
    pl.seed_everything(seed, verbose=False)
    run = settings.of(cfg, TrainerSettings)
    steps, batch_size = int(stage_cfg.max_steps), int(stage_cfg.batch_size)
    optim = settings.of(cfg, OptimSettings).as_dict()
    documents = heldout.documents if heldout is not None else 0
    module = LMModule(
        model_config(cfg, data), data.domains, optim, steps, run.accumulate_grad_batches, eval_documents=documents
    )
    say(f"[{label}] model: {describe(module.model)}")
    maybe_compile(module.model, run.compile, per_layer=run.strategy == "fsdp")
    val_batches = heldout.batches(max(batch_size, 64)) if heldout is not None and eval_every else None
    dm = MixtureDataModule(data, weights, batch_size, seed, val_batches, micro_batches=run.accumulate_grad_batches)
    average = weight_average(stage_cfg) if eval_every else None
    callbacks = [*(callbacks or []), *([average] if average else [])] or None
    trainer = fit(module, dm, run, out_dir, label, steps, callbacks=callbacks, eval_every=eval_every)
    module.passes = dict(zip(data.domains, dm.loader.passes().tolist()))  # repetition per domain
    if eval_every and (not module.eval_history or module.eval_history[-1]["step"] != trainer.global_step):
        trainer.validate(module, datamodule=dm, verbose=False)
    if average is not None and module.eval_history and "alternatives" not in module.eval_history[-1]:
        score_alternatives(trainer, module, dm, average)
    if int(module.skipped_steps):
        say(f"[{label}] skipped {int(module.skipped_steps)} step(s) with non-finite loss")
    return module


def weight_average(stage_cfg: DictConfig) -> WeightAverage | None:
    """The scored model's averaging (final.average: ema | lawa | none) of a stage that evaluates."""
    kind = str(stage_cfg.get("average") or "none")
    if kind == "none":
        return None
    return WeightAverage(kind, stage_cfg.ema_decay, stage_cfg.lawa_every, stage_cfg.lawa_count)


def trained(module) -> torch.nn.Module:
    """A trained module's model with all of its weights on every process (gathered under
    trainer.strategy=fsdp, into a copy built from the settings that built it): what is saved and scored after
    training. Every process calls it."""
    return whole(module.model, lambda: build_model(module.model.settings))


def save_lm(path: Path, model: torch.nn.Module, cfg: DictConfig, data: PackedData, weights: list[float]) -> None:
    """A trained model (see `trained`) as model.pt, with the settings that built it, and as a Hugging Face
    checkpoint in hf/ beside it (main process only)."""
    if is_main_process():
        save_model(path, model.state_dict(), model.settings, data.tokenizer, data.domains, weights)
    save_hf_beside(cfg, model, path.parent / "hf", data)


def save_hf_beside(cfg: DictConfig, model, hf_dir: Path, data: PackedData) -> None:
    """With trainer.hf_checkpoints, `model` as a Hugging Face checkpoint in `hf_dir` (main process only)."""
    if is_main_process() and settings.of(cfg, TrainerSettings).hf_checkpoints:
        save_hf(model, hf_dir, data.dir, data.tokenizer["kind"])
