"""Building Lightning trainers and data loaders for the training stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger

from doremi.data.packing import PackedData
from doremi.data.sampler import MixtureBatches, MixtureSampler
from doremi.lit.callbacks import Progress


def make_trainer(
    cfg: DictConfig,
    out_dir: Path,
    label: str,
    max_steps: int,
    batch_size: int,
    callbacks: list[pl.Callback] | None = None,
    eval_every: int | None = None,
) -> pl.Trainer:
    """A Trainer logging to CSV under out_dir/logs, printing progress lines, no checkpoints."""
    tokens_per_step = batch_size * int(cfg.model.seq_len)
    progress = Progress(label, max_steps, tokens_per_step, int(cfg.trainer.progress_lines))
    return pl.Trainer(
        max_steps=max_steps,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.trainer.grad_clip,
        logger=CSVLogger(str(out_dir), name="logs", version=""),
        callbacks=[progress, *(callbacks or [])],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        val_check_interval=eval_every if eval_every else None,
        check_val_every_n_epoch=None,
        limit_val_batches=1.0 if eval_every else 0,
    )


def train_loader(data: PackedData, weights: list[float], batch_size: int, seed: int) -> torch.utils.data.DataLoader:
    """Endless mixture batches from the training split, drawn with exact proportions."""
    sampler = MixtureSampler(data.chunk_counts("train"), weights, batch_size, seed)
    chunks = [data.chunks("train", d) for d in data.domains]
    return torch.utils.data.DataLoader(MixtureBatches(chunks, sampler), batch_size=None)


def heldout_batches(data: PackedData, per_domain: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """The first `per_domain` held-out chunks of every domain, in batches (fixed across runs)."""
    rows, domains = [], []
    for i, domain in enumerate(data.domains):
        chunks = np.asarray(data.chunks("val", domain)[:per_domain], dtype=np.int64)
        rows.append(chunks)
        domains.extend([i] * len(chunks))
    tokens = torch.from_numpy(np.concatenate(rows))
    domain_ids = torch.tensor(domains, dtype=torch.long)
    return [
        {
            "input": tokens[s : s + batch_size, :-1],
            "target": tokens[s : s + batch_size, 1:],
            "domain": domain_ids[s : s + batch_size],
        }
        for s in range(0, len(tokens), batch_size)
    ]
