"""Building Lightning trainers for the training stages: one harness for every stage.

`fit` trains a module on a data module with the `trainer.*` settings (doremi.config.settings.TrainerSettings):
progress lines, checkpoints every `checkpoint.every` steps, resume, and the logger chosen by
`trainer.logger` (CSV by default; TensorBoard, Weights & Biases and MLflow when installed).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from doremi.config.errors import DoremiError, first_line
from doremi.config.settings import TrainerSettings
from doremi.training.callbacks import Checkpoints, Progress, belongs, resume_checkpoint
from doremi.training.shard import lightning_strategy

# trainer.logger -> (the package it needs, the extra that installs it)
LOGGER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


def device_for(run: TrainerSettings) -> torch.device:
    """Where a stage's work outside the trainer runs (held-out scoring of the reference, the reference-loss
    cache, SFT's dev losses and samples): this process's GPU when the trainer trains on GPUs, else the CPU."""
    if str(run.accelerator) in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def make_logger(kind: str, out_dir: Path, label: str, version: str):
    """Lightning's logger for `trainer.logger`, writing under out_dir/logs (offline for W&B)."""
    package = LOGGER_PACKAGES.get(kind)
    if package and importlib.util.find_spec(package) is None:
        raise DoremiError(
            f"trainer.logger={kind} needs the {package} package: pip install 'doremi-mix[loggers]' "
            "(or use trainer.logger=csv)"
        )
    from pytorch_lightning import loggers

    if kind == "tensorboard":
        return loggers.TensorBoardLogger(str(out_dir), name="logs", version=version)
    if kind == "wandb":
        return loggers.WandbLogger(name=label, save_dir=str(out_dir / "logs"), offline=True)
    if kind == "mlflow":
        return loggers.MLFlowLogger(
            experiment_name=label, tracking_uri=f"file:{(out_dir / 'logs' / 'mlruns').resolve()}"
        )
    return loggers.CSVLogger(str(out_dir), name="logs", version=version)


def check_combination(run: TrainerSettings) -> None:
    """Lightning's refusal of a combination of trainer.* settings (an accelerator that is not here, fsdp or a
    precision it cannot run, more devices than there are), as one line naming the keys, before a stage starts:
    a Trainer is built and dropped, nothing is launched."""
    try:
        pl.Trainer(
            accelerator=run.accelerator,
            devices=run.devices,
            num_nodes=run.num_nodes,
            strategy=lightning_strategy(run.strategy),
            precision=run.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
    except (TypeError, ValueError, RuntimeError, MisconfigurationException) as err:
        given = " ".join(f"trainer.{k}={getattr(run, k)}" for k in ("accelerator", "devices", "strategy", "precision"))
        raise DoremiError(
            f"{given}: Lightning refused this combination ({first_line(err)}); change one of them"
        ) from None


def make_trainer(
    run: TrainerSettings,
    out_dir: Path,
    label: str,
    max_steps: int,
    batch_size: int,
    tokens_per_step: int,
    callbacks: list[pl.Callback] | None = None,
    eval_every: int | None = None,
    resuming: bool = False,
) -> pl.Trainer:
    """A Trainer logging under out_dir/logs, printing progress lines, checkpointing
    into out_dir/checkpoints every `checkpoint.every` steps. A resumed run logs to
    out_dir/logs/resumed-<n>/, keeping the interrupted run's log."""
    progress = Progress(label, max_steps, tokens_per_step, run.progress_lines)
    saver = Checkpoints(out_dir / "checkpoints", run.checkpoint_every, run.checkpoint_keep, eval_every)
    # the trajectory is written before a checkpoint: the saver comes last
    log_version = f"resumed-{len(list((out_dir / 'logs').glob('resumed-*'))) + 1}" if resuming else ""
    logger = make_logger(run.logger, out_dir, label, log_version)
    try:
        trainer = pl.Trainer(
            max_steps=max_steps,
            accelerator=run.accelerator,
            devices=run.devices,
            num_nodes=run.num_nodes,
            strategy=lightning_strategy(run.strategy),
            precision=run.precision,
            gradient_clip_val=run.grad_clip,
            accumulate_grad_batches=run.accumulate_grad_batches,
            logger=logger,
            callbacks=[progress, *(callbacks or []), saver],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=run.log_every,
            num_sanity_val_steps=0,
            val_check_interval=eval_every * run.accumulate_grad_batches if eval_every else None,
            check_val_every_n_epoch=None,
            limit_val_batches=1.0 if eval_every else 0,
        )
    except (ValueError, MisconfigurationException) as err:  # Lightning's message names the setting
        raise DoremiError(f"[{label}] Lightning refused the trainer.* settings: {first_line(err)}") from None
    parts = trainer.world_size * run.accumulate_grad_batches
    if batch_size % parts:
        raise DoremiError(
            f"[{label}] batch size {batch_size} does not split over {trainer.world_size} process(es) x "
            f"trainer.accumulate_grad_batches={run.accumulate_grad_batches}: make the stage's batch_size "
            f"a multiple of {parts}"
        )
    return trainer


def fit(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    run: TrainerSettings,
    out_dir: Path,
    label: str,
    max_steps: int,
    callbacks: list[pl.Callback] | None = None,
    eval_every: int | None = None,
) -> pl.Trainer:
    """Train `module` for `max_steps` on `datamodule` (which has `batch_size` and `seq_len`), resuming from
    a checkpoint when `resume=` asks; with `eval_every`, validate on its held-out batches that often."""
    ckpt = resume_checkpoint(run.resume, out_dir / "checkpoints", label)
    if ckpt is not None:
        belongs(ckpt, module)
    batch_size = int(datamodule.batch_size)
    tokens = batch_size * int(datamodule.seq_len)
    trainer = make_trainer(run, out_dir, label, max_steps, batch_size, tokens, callbacks, eval_every, ckpt is not None)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    return trainer
