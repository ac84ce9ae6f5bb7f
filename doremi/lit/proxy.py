"""The proxy model trained with Group DRO against a frozen reference (DoReMi)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from doremi import dro
from doremi.lit.lm import make_optimizer, reduce_sum
from doremi.model.gpt import GPT, GPTConfig


class ProxyModule(pl.LightningModule):
    """Each step: excess loss per domain -> new domain weights -> weighted proxy loss.

    The domain-weight state lives in buffers so that checkpoints carry it:
    `weights` (alpha_t), `weight_sum` (sum of alpha_1..alpha_t), `last_excess` (lambda_t)
    and `dro_steps` (t). `last_record` is the step's trajectory line.
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
    ):
        super().__init__()
        self.save_hyperparameters()
        self.domains = list(domains)
        self.model = GPT(GPTConfig(**model))
        self.reference = GPT(GPTConfig(**model))
        self.reference.requires_grad_(False)
        k = len(domains)
        init = torch.tensor(init_weights, dtype=torch.float64) if init_weights is not None else None
        self.register_buffer("weights", dro.initial_weights(k, init))
        self.register_buffer("weight_sum", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("last_excess", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("dro_steps", torch.zeros((), dtype=torch.long))
        self.last_record: dict | None = None

    def load_reference(self, state_dict: dict) -> None:
        self.reference.load_state_dict(state_dict)
        self.reference.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.reference.eval()  # the reference stays in eval mode (no dropout) throughout
        return self

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        inputs, targets, domain_ids = batch["input"], batch["target"], batch["domain"]
        k = len(self.domains)
        proxy_loss = self.model.token_losses(inputs, targets)
        with torch.no_grad():
            reference_loss = self.reference.token_losses(inputs, targets)

        sums, counts = dro.excess_loss_sums(proxy_loss, reference_loss, domain_ids, k)
        sums, counts = reduce_sum(self, sums), reduce_sum(self, counts)
        excess = dro.domain_excess(sums, counts, self.last_excess)
        weights = dro.update_weights(self.weights, excess, self.hparams.eta, self.hparams.smoothing)

        self.weights.copy_(weights)
        self.weight_sum.add_(weights)
        self.last_excess.copy_(excess)
        self.dro_steps.add_(1)

        # DDP averages gradients over processes: scale so the sum is the global objective
        objective = dro.weighted_objective(proxy_loss, domain_ids, weights, counts) * self.trainer.world_size
        self.last_record = {
            "step": int(self.dro_steps),
            "excess": dict(zip(self.domains, excess.tolist())),
            "weights": dict(zip(self.domains, weights.tolist())),
        }
        self.log("train/loss", proxy_loss.detach().mean(), prog_bar=True)
        self.log("train/objective", objective.detach())
        self.log_dict({f"excess/{d}": v for d, v in self.last_record["excess"].items()})
        self.log_dict({f"weight/{d}": v for d, v in self.last_record["weights"].items()})
        return objective

    def average_weights(self) -> list[float]:
        """The learned mixture: mean of alpha_1..alpha_T."""
        return (self.weight_sum / self.dro_steps.clamp_min(1)).tolist()

    def configure_optimizers(self):
        return make_optimizer(self.model.parameters(), self.hparams.optim, self.hparams.max_steps)
