"""stage=reference: train the reference model on the reference mixture."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from doremi.data.heldout import HeldOut
from doremi.data.packing import PackedData
from doremi.lit.lm import LMModule, maybe_compile
from doremi.lit.train import fit
from doremi.mixture import resolve_mixture
from doremi.stages.common import commit, is_main_process, load_prepared, model_config, number, say, start


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
) -> LMModule:
    """Train a fresh model (seeded by `seed`, default the run's) on batches drawn with `weights`;
    with `eval_every`, score it on `heldout` every so many steps and at the end."""
    seed = int(cfg.seed if seed is None else seed)
    pl.seed_everything(seed, verbose=False)
    steps, batch_size = int(stage_cfg.max_steps), int(stage_cfg.batch_size)
    micro = int(cfg.trainer.accumulate_grad_batches)
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    documents = heldout.documents if heldout is not None else 0
    module = LMModule(model_config(cfg, data), data.domains, optim, steps, micro, eval_documents=documents)
    maybe_compile(module.model, bool(cfg.trainer.compile))
    val_batches = heldout.batches(max(batch_size, 64)) if heldout is not None else None
    trainer, dm = fit(
        cfg,
        module,
        out_dir,
        label,
        data,
        weights,
        steps,
        batch_size,
        eval_every=eval_every,
        val_batches=val_batches,
        seed=seed,
    )
    module.passes = dict(zip(data.domains, dm.loader.passes().tolist()))  # repetition per domain
    if eval_every and (not module.eval_history or module.eval_history[-1]["step"] != trainer.global_step):
        trainer.validate(module, datamodule=dm, verbose=False)
    if int(module.skipped_steps):
        say(f"[{label}] skipped {int(module.skipped_steps)} step(s) with non-finite loss")
    return module


def save_model(path: Path, module: torch.nn.Module, model_cfg: dict, data: PackedData, weights: list[float]) -> None:
    torch.save(
        {
            "model_config": model_cfg,
            "state_dict": module.state_dict(),
            "tokenizer": data.tokenizer,
            "domains": data.domains,
            "mixture": dict(zip(data.domains, weights)),
        },
        path,
    )


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    number(cfg, "reference.max_steps", 1, math.inf)
    number(cfg, "reference.batch_size", 1, math.inf)
    out = start(cfg, "reference")
    if out is None:
        return
    weights = resolve_mixture(str(cfg.reference.mixture), data.domains, data.token_counts("train"), "reference.mixture")
    say(
        f"[reference] training on the {cfg.reference.mixture} mixture: "
        + ", ".join(f"{d} {w:.3f}" for d, w in zip(data.domains, weights))
    )
    module = fit_lm(cfg, data, weights, cfg.reference, out.tmp, "reference")
    if is_main_process():
        save_model(out.tmp / "model.pt", module.model, model_config(cfg, data), data, weights)
    commit(out)
