"""Building Lightning trainers and data loaders for the training stages."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from doremi.data.loaders import MixtureDataModule
from doremi.data.packing import PackedData
from doremi.errors import DoremiError
from doremi.lit.callbacks import Checkpoints, Progress, resume_checkpoint


def make_trainer(
    cfg: DictConfig,
    out_dir: Path,
    label: str,
    max_steps: int,
    batch_size: int,
    callbacks: list[pl.Callback] | None = None,
    eval_every: int | None = None,
    resuming: bool = False,
) -> pl.Trainer:
    """A Trainer logging to CSV under out_dir/logs, printing progress lines, checkpointing
    into out_dir/checkpoints every `checkpoint.every` steps. A resumed run logs to
    out_dir/logs/resumed-<n>/, keeping the interrupted run's log."""
    tokens_per_step = batch_size * int(cfg.model.seq_len)
    progress = Progress(label, max_steps, tokens_per_step, int(cfg.trainer.progress_lines))
    saver = Checkpoints(out_dir / "checkpoints", int(cfg.checkpoint.every), int(cfg.checkpoint.keep))
    try:
        # the trajectory is written before a checkpoint: the saver comes last
        log_version = f"resumed-{len(list((out_dir / 'logs').glob('resumed-*'))) + 1}" if resuming else ""
        trainer = lightning_trainer(
            cfg, out_dir, max_steps, [progress, *(callbacks or []), saver], eval_every, log_version
        )
    except (ValueError, MisconfigurationException) as err:  # Lightning's message names the setting
        first = str(err).strip().splitlines()[0]
        raise DoremiError(f"[{label}] Lightning refused the trainer.* settings: {first}") from None
    parts = trainer.world_size * int(cfg.trainer.accumulate_grad_batches)
    if batch_size % parts:
        raise DoremiError(
            f"[{label}] batch size {batch_size} does not split over {trainer.world_size} process(es) x "
            f"trainer.accumulate_grad_batches={cfg.trainer.accumulate_grad_batches}: make the stage's batch_size "
            f"a multiple of {parts}"
        )
    return trainer


def lightning_trainer(
    cfg: DictConfig,
    out_dir: Path,
    max_steps: int,
    callbacks: list[pl.Callback],
    eval_every: int | None,
    log_version: str = "",
) -> pl.Trainer:
    """The Lightning Trainer of a training stage, from the `trainer.*` settings."""
    return pl.Trainer(
        max_steps=max_steps,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=int(cfg.trainer.num_nodes),
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.trainer.grad_clip,
        accumulate_grad_batches=int(cfg.trainer.accumulate_grad_batches),
        logger=CSVLogger(str(out_dir), name="logs", version=log_version),
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=int(cfg.trainer.log_every),
        num_sanity_val_steps=0,
        val_check_interval=eval_every * int(cfg.trainer.accumulate_grad_batches) if eval_every else None,
        check_val_every_n_epoch=None,
        limit_val_batches=1.0 if eval_every else 0,
    )


def fit(
    cfg: DictConfig,
    module: pl.LightningModule,
    out_dir: Path,
    label: str,
    data: PackedData,
    weights: list[float],
    max_steps: int,
    batch_size: int,
    callbacks: list[pl.Callback] | None = None,
    eval_every: int | None = None,
    steps_only: bool = False,
    datamodule: MixtureDataModule | None = None,
    val_batches: list[dict] | None = None,
    seed: int | None = None,
) -> tuple[pl.Trainer, MixtureDataModule]:
    """Train `module` on batches drawn with `weights`, resuming from a checkpoint when `resume=` asks.

    steps_only: the loader yields only each batch's step and the module draws the batch itself.
    datamodule: train on its batches instead of the prepared run's (`data` and `weights` unused).
    val_batches: held-out batches evaluated every `eval_every` steps.
    seed: the sampler's seed (default: the run's `seed`).
    """
    ckpt = resume_checkpoint(cfg.resume, out_dir / "checkpoints", label)
    trainer = make_trainer(cfg, out_dir, label, max_steps, batch_size, callbacks, eval_every, ckpt is not None)
    dm = datamodule
    if dm is None:
        micro = int(cfg.trainer.accumulate_grad_batches)
        sampler_seed = int(cfg.seed if seed is None else seed)
        heldout = val_batches if eval_every else None
        dm = MixtureDataModule(
            data, weights, batch_size, sampler_seed, heldout, micro_batches=micro, steps_only=steps_only
        )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
    return trainer, dm
