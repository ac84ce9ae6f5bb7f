"""Language-model training (reference and final models) with per-domain held-out evaluation."""

from __future__ import annotations

import math
import time

import numpy as np
import pytorch_lightning as pl
import torch

from doremi.training.model import build_model
from doremi.training.shard import layer_stack, shard


def reduce_sum(module: pl.LightningModule, tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (a no-op with one)."""
    if module._trainer is None or module.trainer.world_size == 1:
        return tensor
    return module.trainer.strategy.reduce(tensor, reduce_op="sum")


def all_finite(module: pl.LightningModule, tensor: torch.Tensor) -> bool:
    """True when the tensor is finite on every process (all processes decide alike)."""
    bad = (~torch.isfinite(tensor)).sum().double().reshape(1)
    return float(reduce_sum(module, bad)) == 0


def masked_sum(losses: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the per-token losses where `mask` is true (every token without a mask), and their number."""
    if mask is None:
        return losses.sum(), torch.tensor(float(losses.numel()), dtype=losses.dtype, device=losses.device)
    weights = mask.to(losses.dtype)
    return (losses * weights).sum(), weights.sum()


def mean_loss(losses: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-token loss over the masked-in tokens (all tokens without a mask)."""
    if mask is None:
        return losses.mean()
    total, count = masked_sum(losses, mask)
    return total / count.clamp_min(1.0)


def micro_part(batch: dict, index: int, parts: int) -> dict:
    """Part `index` of `parts` equal slices of a batch (the whole batch when parts == 1)."""
    if parts == 1:
        return batch
    size = len(batch["domain"]) // parts
    return {k: v[index * size : (index + 1) * size] for k, v in batch.items() if k not in ("step", "micro")}


@torch.no_grad()
def log_loss(module: pl.LightningModule, name: str, value: torch.Tensor, **options) -> None:
    """Keep a training value for the progress lines (`module.last_logged`) every step, and hand it to Lightning's
    logger only on the steps the logger writes (every trainer.log_every): each self.log call costs Lightning a
    walk over its stored results, several milliseconds a call, more than a tiny model's whole step."""
    if not hasattr(module, "last_logged"):
        module.last_logged = {}
    module.last_logged[name] = value.detach()
    if (module.global_step + 1) % max(module.trainer.log_every_n_steps, 1) == 0:
        module.log(name, value, **options)


@torch.no_grad()
def heldout_scores(model: torch.nn.Module, heldout, batch_size: int = 64) -> tuple[dict[str, float], np.ndarray]:
    """One pass over a doremi.data.heldout.HeldOut: each domain's loss (nats/token) and the summed nats of every
    held-out document (what doremi.stats.verdict judges)."""
    was_training = model.training
    model.eval()
    k = len(heldout.domains)
    sums, counts = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.float64)
    doc_sums = torch.zeros(len(heldout.doc_domain), dtype=torch.float64)
    device = next(model.parameters()).device
    for batch in heldout.batches(batch_size):
        losses = model.token_losses(batch["input"].to(device), batch["target"].to(device)).double().cpu()
        sums.index_add_(0, batch["domain"], losses.sum(dim=1))
        counts.index_add_(0, batch["domain"], torch.full((len(losses),), float(losses.shape[1]), dtype=torch.float64))
        doc_sums.index_add_(0, batch["doc"].reshape(-1), losses.reshape(-1))
    model.train(was_training)
    return {d: float(s / c) for d, s, c in zip(heldout.domains, sums, counts) if c > 0}, doc_sums.numpy()


def heldout_losses(model: torch.nn.Module, heldout, batch_size: int = 64) -> dict[str, float]:
    """Held-out loss (nats/token) of each domain of a doremi.data.heldout.HeldOut."""
    return heldout_scores(model, heldout, batch_size)[0]


def maybe_compile(model: torch.nn.Module, enabled: bool, per_layer: bool = False) -> None:
    """torch.compile in place (parameter names unchanged, so saved models load anywhere): the whole model,
    or each layer of its stack (`per_layer`, for trainer.strategy=fsdp: the shard groups' hooks stay outside)."""
    if not enabled:
        return
    for part in (layer_stack(model) or [model]) if per_layer else [model]:
        part.compile()


class LMModule(pl.LightningModule):
    """Next-token prediction on mixture batches; validation reports loss per domain.

    `eval_history` collects {"step", "losses": {domain: nats/token}} at every validation and,
    when the validation batches carry a "doc" index per target token (doremi.data.heldout),
    "documents": the summed nats of each of the `eval_documents` held-out documents.
    """

    def __init__(
        self,
        model: dict,
        domains: list[str],
        optim: dict,
        max_steps: int,
        micro_batches: int = 1,
        eval_documents: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model)
        self.domains = list(domains)
        self.eval_history: list[dict] = []
        self._val_sums = torch.zeros(len(domains), dtype=torch.float64)
        self._val_counts = torch.zeros(len(domains), dtype=torch.float64)
        self._doc_sums = torch.zeros(eval_documents, dtype=torch.float64)
        self.eval_seconds = 0.0  # time spent in held-out evaluation
        self._eval_started = 0.0
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long))
        # this micro-batch's per-domain (loss sums, rows), read by online mixing (doremi.methods.online)
        self.domain_losses: tuple[torch.Tensor, torch.Tensor] | None = None

    def training_step(self, batch: dict, batch_idx: int):
        part = micro_part(batch, int(batch.get("micro", 0)), int(self.hparams.micro_batches))
        # with a "mask" (SFT responses) only the masked-in tokens are trained on
        token_losses = self.model.token_losses(part["input"], part["target"])
        loss = mean_loss(token_losses, part.get("mask"))
        if "domain" in part and part.get("mask") is None:  # per-domain training losses, for online mixing
            rows = token_losses.detach().double().mean(dim=1)
            sums = torch.zeros(len(self.domains), dtype=torch.float64, device=rows.device)
            self.domain_losses = (
                sums.index_add(0, part["domain"], rows),
                sums.index_add(0, part["domain"], torch.ones_like(rows)),
            )
        if not all_finite(self, loss.detach()):
            self.skipped_steps.add_(1)  # a non-finite loss is not trained on
            return None
        log_loss(self, "train/loss", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._eval_started = time.perf_counter()
        self._val_sums = torch.zeros(len(self.domains), dtype=torch.float64, device=self.device)
        self._val_counts = torch.zeros_like(self._val_sums)
        self._doc_sums = torch.zeros(int(self.hparams.eval_documents), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        losses = self.model.token_losses(batch["input"], batch["target"]).double()
        self._val_sums.index_add_(0, batch["domain"], losses.sum(dim=1))
        self._val_counts.index_add_(0, batch["domain"], torch.full_like(losses[:, 0], losses.shape[1]))
        if "doc" in batch and len(self._doc_sums):
            self._doc_sums.index_add_(0, batch["doc"].reshape(-1), losses.reshape(-1))

    def on_validation_epoch_end(self) -> None:
        sums, counts = reduce_sum(self, self._val_sums), reduce_sum(self, self._val_counts)
        means = (sums / counts.clamp_min(1)).tolist()
        losses = {d: m for d, m, c in zip(self.domains, means, counts.tolist()) if c > 0}
        if not losses:
            return
        average = sum(losses.values()) / len(losses)
        record = {"step": int(self.global_step), "losses": losses}
        if len(self._doc_sums):
            record["documents"] = reduce_sum(self, self._doc_sums).tolist()
        self.eval_history.append(record)
        self.eval_seconds += time.perf_counter() - self._eval_started
        self.log_dict({f"val/{d}": v for d, v in losses.items()})
        self.log("val/average", average)
        self.log("val/worst", max(losses.values()))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["eval_history"] = self.eval_history

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.eval_history = list(checkpoint.get("eval_history", []))

    def configure_model(self) -> None:
        shard(self.model, self.device_mesh)  # trainer.strategy=fsdp only (doremi.training.shard)

    def configure_optimizers(self):
        return make_optimizer(self.model.parameters(), self.hparams.optim, self.hparams.max_steps, loss_scaled(self))

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip_norm(optimizer, gradient_clip_val)


def loss_scaled(module: pl.LightningModule) -> bool:
    """Whether the trainer scales the loss (16-bit float mixed precision); bf16 and 32-bit do not."""
    return str(module.trainer.precision).startswith("16")


def clip_norm(optimizer: torch.optim.Optimizer, value: float | None) -> None:
    """Gradient-norm clipping over the optimizer's parameters, as Lightning's own does, but also with a fused
    AdamW under bf16-mixed: Lightning refuses that pair ("performs unscaling of gradients internally"), though
    bf16 scales no loss and the gradients are the true ones. Under 16-mixed the optimizer is never fused
    (make_optimizer), so Lightning has unscaled the gradients before this runs."""
    if value:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], value)


def make_optimizer(params, optim: dict, max_steps: int, loss_scaled: bool = False):
    """AdamW with linear warmup (optim.warmup_steps, at most a third of `max_steps`), then cosine decay to
    `min_lr_ratio` of the peak rate."""
    params = list(params)
    fused = optim.get("fused", "auto")
    if fused == "auto":  # PyTorch's fused AdamW kernel where the parameters are on a GPU, unless the loss is scaled
        fused = bool(params) and all(p.is_cuda for p in params) and not loss_scaled
    optimizer = torch.optim.AdamW(
        params, lr=optim["lr"], betas=tuple(optim["betas"]), weight_decay=optim["weight_decay"], fused=bool(fused)
    )
    warmup = min(max(int(optim["warmup_steps"]), 0), max_steps // 3)
    floor = float(optim["min_lr_ratio"])

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(max_steps - warmup, 1), 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
