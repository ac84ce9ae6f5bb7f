"""The proxy model trained with Group DRO against a frozen reference (DoReMi)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from doremi.config.errors import DoremiError
from doremi.methods.doremi import dro
from doremi.methods.doremi.parts import BatchDraw, DomainWeights, ReferenceScorer
from doremi.training.lm import (
    clip_norm,
    log_loss,
    loss_scaled,
    make_optimizer,
    masked_sum,
    mean_loss,
    micro_part,
    reduce_sum,
)
from doremi.training.shard import shard

# Buffers a proxy checkpoint must carry (a resumed run refuses a checkpoint without them).
DRO_STATE = tuple(f"domain_weights.{name}" for name in DomainWeights.STATE)


class ProxyModule(pl.LightningModule):
    """Each optimizer step: excess loss per domain -> new domain weights -> weighted proxy loss.

    Built from its parts: the proxy `model` and (doremi.methods.doremi.parts) `domain_weights` (alpha_t, its update and
    diagnostics), `reference` (live or cached reference losses) and, for
    dro.sampling=resample, `draw` (each step's batch drawn with alpha_{t-1}; the loader then
    brings only the step number and the proxy trains on the plain mean loss).
    `last_record` is the step's trajectory line.

    With `micro_batches` m > 1 (gradient accumulation) every micro-batch brings the whole
    step's batch; the first one computes lambda_t over all m parts (one forward without
    gradient) and moves alpha once; each micro-batch then trains on its own part.

    warm_start W > 0: the first W optimizer steps train the proxy on the alpha_0-weighted loss
    without moving the weights or writing the trajectory; trajectory step t is optimizer step W + t.
    """

    def __init__(
        self,
        model: nn.Module,
        optim: dict,
        max_steps: int,
        domain_weights: DomainWeights,
        reference: ReferenceScorer,
        draw: BatchDraw | None = None,
        micro_batches: int = 1,
        warm_start: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["model", "domain_weights", "reference", "draw"])
        self.model = model
        self.domain_weights = domain_weights
        self.reference = reference
        self.draw = draw
        self.domains = domain_weights.domains
        self.last_record: dict | None = None
        self._drawn: tuple[dict, list[int]] | None = None
        self._step_counts: torch.Tensor | None = None
        self._skip_step = False

    def update_domain_weights(self, parts: list[dict], proxy_losses: list[torch.Tensor]) -> bool:
        """lambda_t from every part of the step's batch (all processes), then alpha_t. False: skip the step."""
        k, clip = len(self.domains), self.domain_weights.settings.clip
        sums = torch.zeros(k, dtype=torch.float64, device=self.device)
        counts = torch.zeros_like(sums)
        for part, proxy_loss in zip(parts, proxy_losses):
            s, c = dro.excess_loss_sums(proxy_loss, self.reference(part), part["domain"], k, part.get("mask"), clip)
            sums, counts = sums + s, counts + c
        sums, counts = reduce_sum(self, sums), reduce_sum(self, counts)
        weights = self.domain_weights.update(sums, counts)
        if weights is None:
            return False
        self._step_counts = counts
        totals = [masked_sum(loss.detach().double(), part.get("mask")) for loss, part in zip(proxy_losses, parts)]
        loss_count = sum(float(count) for _, count in totals)
        self.last_record = {
            "step": int(self.domain_weights.steps),
            "excess": dict(zip(self.domains, self.domain_weights.last_excess.tolist())),
            "weights": dict(zip(self.domains, weights.tolist())),
            "loss": sum(float(total) for total, _ in totals) / max(loss_count, 1),  # this process's share
        }
        if self._drawn is not None:  # resampling: the sequences of each domain in the batch
            self.last_record["sequences"] = dict(zip(self.domains, self._drawn[1]))
        return True

    def token_counts(self, parts: list[dict]) -> torch.Tensor:
        """Trained-on tokens of each domain in the step's batch, over all processes."""
        counts = torch.zeros(len(self.domains), dtype=torch.float64, device=self.device)
        for part in parts:
            mask = part.get("mask")
            per_row = mask.sum(dim=1) if mask is not None else torch.full_like(part["domain"], part["target"].shape[1])
            counts.index_add_(0, part["domain"], per_row.double())
        return reduce_sum(self, counts)

    def training_step(self, batch: dict, batch_idx: int):
        m = int(self.hparams.micro_batches)
        j = int(batch["micro"]) if "micro" in batch else 0
        if self.draw is not None:
            if j == 0:
                self._drawn = self.draw.draw(int(batch["step"]), self.domain_weights.weights)
            batch = self._drawn[0]
        part = micro_part(batch, j, m)
        proxy_loss = self.model.token_losses(part["input"], part["target"])
        if j == 0:
            parts = [part] if m == 1 else [micro_part(batch, i, m) for i in range(m)]
            if self.global_step < self.hparams.warm_start:  # plain training on alpha_0, weights untouched
                self._step_counts = self.token_counts(parts)
                self._skip_step = False
            else:
                losses = [proxy_loss]
                if m > 1:
                    with torch.no_grad():
                        losses += [self.model.token_losses(p["input"], p["target"]) for p in parts[1:]]
                self._skip_step = not self.update_domain_weights(parts, losses)
        if self._skip_step or not torch.isfinite(proxy_loss.detach()).all():
            return None
        # DDP averages gradients over processes and Lightning divides by the accumulated
        # micro-batches: scale so that the gradients sum to those of the global objective
        mask = part.get("mask")
        if self.draw is not None:
            objective = dro.resampled_objective(proxy_loss, self._step_counts.sum(), mask)
        else:
            weights = self.domain_weights.weights
            objective = dro.weighted_objective(proxy_loss, part["domain"], weights, self._step_counts, mask)
        objective = objective * self.trainer.world_size * m
        log_loss(self, "train/loss", mean_loss(proxy_loss.detach(), mask), prog_bar=True)
        log_loss(self, "train/objective", objective.detach())
        # per-domain values only on the steps written to the log (the trajectory has them all)
        logged = (self.global_step + 1) % max(self.trainer.log_every_n_steps, 1) == 0
        if j == 0 and self.last_record is not None and logged:
            self.log_dict({f"excess/{d}": v for d, v in self.last_record["excess"].items()})
            self.log_dict({f"weight/{d}": v for d, v in self.last_record["weights"].items()})
        return objective

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "state_dict" not in checkpoint:  # trainer.strategy=fsdp has loaded it already, every key required
            return
        state = checkpoint["state_dict"]
        missing = [key for key in DRO_STATE if key not in state]
        if missing:
            raise DoremiError(
                f"checkpoint has no domain-weight state '{missing[0]}' (written by another version or another "
                "stage): it cannot resume this proxy run; start it again without resume="
            )

    def configure_model(self) -> None:
        shard(self.model, self.device_mesh)  # trainer.strategy=fsdp: the proxy only (the reference is frozen)

    def configure_optimizers(self):
        return make_optimizer(self.model.parameters(), self.hparams.optim, self.hparams.max_steps, loss_scaled(self))

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip_norm(optimizer, gradient_clip_val)
