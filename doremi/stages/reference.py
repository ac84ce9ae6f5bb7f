"""stage=reference: train the reference model on the reference mixture."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from doremi.data.packing import PackedData
from doremi.lit.lm import LMModule
from doremi.lit.train import heldout_batches, make_trainer, train_loader
from doremi.mixture import resolve_mixture
from doremi.stages.common import commit, load_prepared, model_config, say, start


def fit_lm(
    cfg: DictConfig,
    data: PackedData,
    weights: list[float],
    stage_cfg: DictConfig,
    out_dir: Path,
    label: str,
    eval_every: int | None = None,
) -> LMModule:
    """Train a fresh model (seeded by `seed`) on batches drawn with `weights`."""
    pl.seed_everything(int(cfg.seed), verbose=False)
    steps, batch_size = int(stage_cfg.max_steps), int(stage_cfg.batch_size)
    module = LMModule(model_config(cfg, data), data.domains, dict(cfg.optim), steps)
    trainer = make_trainer(cfg, out_dir, label, steps, batch_size, eval_every=eval_every)
    loaders = {"train_dataloaders": train_loader(data, weights, batch_size, int(cfg.seed))}
    if eval_every:
        heldout = heldout_batches(data, int(cfg.final.eval_chunks), batch_size)
        loaders["val_dataloaders"] = torch.utils.data.DataLoader(heldout, batch_size=None)
    trainer.fit(module, **loaders)
    sampler = loaders["train_dataloaders"].dataset.sampler
    module.passes = dict(zip(data.domains, sampler.passes().tolist()))  # repetition per domain
    if eval_every and (not module.eval_history or module.eval_history[-1]["step"] != trainer.global_step):
        trainer.validate(module, loaders["val_dataloaders"], verbose=False)
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
    out = start(cfg, "reference")
    if out is None:
        return
    weights = resolve_mixture(str(cfg.reference.mixture), data.domains, data.token_counts("train"), "reference.mixture")
    say(
        f"[reference] training on the {cfg.reference.mixture} mixture: "
        + ", ".join(f"{d} {w:.3f}" for d, w in zip(data.domains, weights))
    )
    module = fit_lm(cfg, data, weights, cfg.reference, out.tmp, "reference")
    save_model(out.tmp / "model.pt", module.model, model_config(cfg, data), data, weights)
    commit(out)
