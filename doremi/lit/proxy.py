"""The proxy model trained with Group DRO against a frozen reference (DoReMi)."""

from __future__ import annotations

import math
import sys

import pytorch_lightning as pl
import torch

from doremi import dro
from doremi.data.resample import ResampledBatches
from doremi.data.sampler import dist_rank_world
from doremi.errors import DoremiError
from doremi.lit.lm import all_finite, make_optimizer, masked_sum, mean_loss, micro_part, reduce_sum
from doremi.model.gpt import GPT, GPTConfig

# Buffers a proxy checkpoint must carry (a resumed run refuses a checkpoint without them).
DRO_STATE = ("weights", "weight_sum", "last_excess", "dro_steps")


class ProxyModule(pl.LightningModule):
    """Each optimizer step: excess loss per domain -> new domain weights -> weighted proxy loss.

    The domain-weight state lives in buffers so that checkpoints carry it:
    `weights` (alpha_t), `weight_sum` (sum of alpha_1..alpha_t), `last_excess` (lambda_t)
    and `dro_steps` (t); diagnostics too (`skipped_steps`, `absent_domains`, `low_entropy_steps`).
    `last_record` is the step's trajectory line.

    With `micro_batches` m > 1 (gradient accumulation) every micro-batch brings the whole
    step's batch; the first one computes lambda_t over all m parts (one forward without
    gradient) and moves alpha once; each micro-batch then trains on its own part.

    warm_start W > 0: the first W optimizer steps train the proxy on the alpha_0-weighted loss
    without moving the weights or writing the trajectory (the proxy starts Group DRO from a
    briefly trained model); trajectory step t is then optimizer step W + t.
    burn_in b > 0: the learned mixture is the mean of alpha_t over the DRO steps after the first
    b fraction of them (the paper averages all steps).

    sampling="resample": the loader brings only the step number; the module draws the step's
    batch with alpha_{t-1} from `resampler` (its position in `resample_owed`/`resample_drawn`,
    checkpointed) and trains on the plain mean loss instead of the alpha-weighted one.
    """

    def __init__(
        self,
        model: dict,
        domains: list[str],
        optim: dict,
        max_steps: int,
        eta: float,
        smoothing: float,
        init_weights: list[float] | None = None,
        micro_batches: int = 1,
        normalize: str = "domain",
        clip: str = "token",
        collapse_weight: float = 0.95,
        collapse_entropy: float = 0.2,
        collapse_steps: int = 50,
        sampling: str = "reweight",
        burn_in: float = 0.0,
        warm_start: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.domains = list(domains)
        self.model = GPT(GPTConfig(**model))
        self.reference = GPT(GPTConfig(**model))
        self.reference.requires_grad_(False)
        self.reference_cache = None  # a ReferenceLosses replaces the reference's forward pass
        k = len(domains)
        init = torch.tensor(init_weights, dtype=torch.float64) if init_weights is not None else None
        self.register_buffer("weights", dro.initial_weights(k, init))
        self.register_buffer("weight_sum", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("last_excess", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("dro_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("absent_domains", torch.zeros(k, dtype=torch.long))
        self.register_buffer("low_entropy_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("resample_owed", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("resample_drawn", torch.zeros(k, dtype=torch.long))
        self.resampler: ResampledBatches | None = None  # set by the stage when sampling="resample"
        self._drawn_batch: dict | None = None
        self._drawn_counts: list[int] | None = None
        self.last_record: dict | None = None
        self._step_counts: torch.Tensor | None = None
        self._skip_step = False
        self._warned: set[str] = set()
        # dro.burn_in: the learned mixture averages alpha_t over the DRO steps after the first burn_start
        self.burn_start = int(burn_in * (max_steps - warm_start))

    def load_reference(self, state_dict: dict) -> None:
        self.reference.load_state_dict(state_dict)
        self.reference.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.reference.eval()  # the reference stays in eval mode (no dropout) throughout
        return self

    def reference_losses(self, part: dict) -> torch.Tensor:
        cached = self.reference_cache and self.reference_cache.lookup(part["domain"], part["chunk"])
        if cached is not None:
            return cached.to(self.device)
        with torch.no_grad():
            return self.reference.token_losses(part["input"], part["target"])

    def update_domain_weights(self, parts: list[dict], proxy_losses: list[torch.Tensor]) -> bool:
        """lambda_t from every part of the step's batch (all processes), then alpha_t. False: skip the step."""
        k = len(self.domains)
        sums = torch.zeros(k, dtype=torch.float64, device=self.device)
        counts = torch.zeros_like(sums)
        for part, proxy_loss in zip(parts, proxy_losses):
            s, c = dro.excess_loss_sums(
                proxy_loss, self.reference_losses(part), part["domain"], k, part.get("mask"), self.hparams.clip
            )
            sums, counts = sums + s, counts + c
        sums, counts = reduce_sum(self, sums), reduce_sum(self, counts)
        if not all_finite(self, sums):
            self.skipped_steps.add_(1)
            self._warn_once("nonfinite", "non-finite losses: step skipped for the model and the weights")
            return False
        excess = dro.domain_excess(sums, counts, self.last_excess, self.hparams.normalize, self.hparams.clip)
        weights = dro.update_weights(self.weights, excess, self.hparams.eta, self.hparams.smoothing)
        self.weights.copy_(weights)
        self.dro_steps.add_(1)
        if int(self.dro_steps) > self.burn_start:
            self.weight_sum.add_(weights)
        self.last_excess.copy_(excess)
        self.absent_domains.add_((counts == 0).long())
        self._step_counts = counts
        self._check_collapse(weights)
        totals = [masked_sum(loss.detach().double(), part.get("mask")) for loss, part in zip(proxy_losses, parts)]
        loss_sum = sum(float(total) for total, _ in totals)
        loss_count = sum(float(count) for _, count in totals)
        self.last_record = {
            "step": int(self.dro_steps),
            "excess": dict(zip(self.domains, excess.tolist())),
            "weights": dict(zip(self.domains, weights.tolist())),
            "loss": loss_sum / max(loss_count, 1),  # mean proxy loss (nats/token) of this process's share
        }
        if self._drawn_counts is not None:  # resampling: the sequences of each domain in the batch
            self.last_record["sequences"] = dict(zip(self.domains, self._drawn_counts))
        return True

    def token_counts(self, parts: list[dict]) -> torch.Tensor:
        """Trained-on tokens of each domain in the step's batch, over all processes."""
        counts = torch.zeros(len(self.domains), dtype=torch.float64, device=self.device)
        for part in parts:
            mask = part.get("mask")
            per_row = mask.sum(dim=1) if mask is not None else torch.full_like(part["domain"], part["target"].shape[1])
            counts.index_add_(0, part["domain"], per_row.double())
        return reduce_sum(self, counts)

    def draw_batch(self, step: int) -> dict:
        """Resampling: this process's share of step `step`'s batch, drawn with the current weights."""
        if self.resampler is None:
            raise DoremiError("sampling='resample' needs a resampler: set module.resampler before training")
        rank, world = dist_rank_world()
        batch, counts, owed, drawn = self.resampler.batch(
            step,
            self.weights.cpu().numpy(),
            self.resample_owed.cpu().numpy(),
            self.resample_drawn.cpu().numpy(),
            rank,
            world,
        )
        self.resample_owed.copy_(torch.from_numpy(owed))
        self.resample_drawn.copy_(torch.from_numpy(drawn))
        self._drawn_counts = counts.tolist()
        return {key: value.to(self.device) for key, value in batch.items()}

    def training_step(self, batch: dict, batch_idx: int):
        m = int(self.hparams.micro_batches)
        j = int(batch["micro"]) if "micro" in batch else 0
        resample = self.hparams.sampling == "resample"
        if resample:
            if j == 0:
                self._drawn_batch = self.draw_batch(int(batch["step"]))
            batch = self._drawn_batch
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
        if resample:
            objective = dro.resampled_objective(proxy_loss, self._step_counts.sum(), mask)
        else:
            objective = dro.weighted_objective(proxy_loss, part["domain"], self.weights, self._step_counts, mask)
        objective = objective * self.trainer.world_size * m
        self.log("train/loss", mean_loss(proxy_loss.detach(), mask), prog_bar=True)
        self.log("train/objective", objective.detach())
        # per-domain values only on the steps Lightning writes to the logs (the trajectory has them all)
        if j == 0 and self.last_record is not None and self.trainer._logger_connector.should_update_logs:
            self.log_dict({f"excess/{d}": v for d, v in self.last_record["excess"].items()})
            self.log_dict({f"weight/{d}": v for d, v in self.last_record["weights"].items()})
        return objective

    def _check_collapse(self, weights: torch.Tensor) -> None:
        k = len(self.domains)
        top = int(weights.argmax())
        if float(weights[top]) > self.hparams.collapse_weight:
            self._warn_once(
                "top",
                f"weight of '{self.domains[top]}' is {float(weights[top]):.3f} (> {self.hparams.collapse_weight}): "
                "the weights are collapsing onto one domain. Usual remedies: a smaller dro.eta, a larger "
                "dro.smoothing, a better-trained reference (more reference.max_steps), or a larger proxy.batch_size",
            )
        p = weights.clamp_min(1e-300)
        entropy = float(-(p * p.log()).sum()) / math.log(k) if k > 1 else 1.0
        self.low_entropy_steps.copy_(self.low_entropy_steps + 1 if entropy < self.hparams.collapse_entropy else 0)
        if int(self.low_entropy_steps) == int(self.hparams.collapse_steps):
            self._warn_once(
                "entropy",
                f"weight entropy has been below {self.hparams.collapse_entropy:.2f} of its maximum for "
                f"{self.hparams.collapse_steps} steps: the weights are close to one-hot. Usual remedies: a "
                "smaller dro.eta, a larger dro.smoothing, or a longer-trained reference",
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned and (self._trainer is None or self.trainer.is_global_zero):
            print(f"[proxy] warning at step {int(self.dro_steps)}: {message}", file=sys.stderr, flush=True)
        self._warned.add(key)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict", {})
        missing = [key for key in DRO_STATE if key not in state]
        if missing:
            raise DoremiError(f"checkpoint has no domain-weight state '{missing[0]}': it cannot resume a proxy run")

    def average_weights(self) -> list[float]:
        """The learned mixture: mean of alpha_t over the averaged steps (all T of them by default)."""
        return (self.weight_sum / max(self.averaged_steps(), 1)).tolist()

    def averaged_steps(self) -> int:
        return max(int(self.dro_steps) - self.burn_start, 0)

    def diagnostics(self) -> dict:
        return {
            "skipped_steps": int(self.skipped_steps),
            "steps_without_domain": dict(zip(self.domains, self.absent_domains.tolist())),
        }

    def configure_optimizers(self):
        return make_optimizer(self.model.parameters(), self.hparams.optim, self.hparams.max_steps)
