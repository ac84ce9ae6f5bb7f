"""The parts a Group DRO module is built from, each with its own state.

- `DomainWeights`: alpha_t and its running state (buffers, so checkpoints carry them),
  the update of docs/concepts/algorithm.md (doremi.methods.doremi.dro), its averaging, diagnostics and collapse warnings.
- `ReferenceScorer`: the frozen reference's per-token losses, live (a forward pass) or
  cached (doremi.methods.doremi.cache, with the live forward for any row the cache lacks).
- `BatchDraw`: the resampling variant's draw of each step's batch with alpha_{t-1}, its
  position in checkpointed buffers.
"""

from __future__ import annotations

import math

import torch

from doremi.config.settings import DroSettings
from doremi.data.resample import ResampledBatches
from doremi.methods.doremi import dro
from doremi.store.runtime import rank_world, say


class DomainWeights(torch.nn.Module):
    """alpha_t (`weights`), the sum of the averaged alpha_t (`weight_sum`), lambda_t (`last_excess`)
    and t (`steps`); diagnostics (`skipped`, `absent`, `low_entropy`).

    `burn_start`: the learned mixture averages alpha_t over the steps after this one (0: all, as the paper).
    """

    STATE = ("weights", "weight_sum", "last_excess", "steps")

    def __init__(self, domains: list[str], dro_settings: DroSettings, init: list[float] | None, burn_start: int = 0):
        super().__init__()
        self.domains = list(domains)
        self.settings = dro_settings
        self.burn_start = int(burn_start)
        k = len(domains)
        start = torch.tensor(init, dtype=torch.float64) if init is not None else None
        self.register_buffer("weights", dro.initial_weights(k, start))
        self.register_buffer("weight_sum", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("last_excess", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("skipped", torch.zeros((), dtype=torch.long))
        self.register_buffer("absent", torch.zeros(k, dtype=torch.long))
        self.register_buffer("low_entropy", torch.zeros((), dtype=torch.long))
        self._warned: set[str] = set()

    def update(self, sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor | None:
        """One step from the per-domain excess-loss sums and token counts (over all processes):
        the new alpha_t, or None when the sums are not finite (the step is skipped and counted)."""
        if not bool(torch.isfinite(sums).all()):
            self.skipped.add_(1)
            self.warn_once("nonfinite", "non-finite losses: step skipped for the model and the weights")
            return None
        s = self.settings
        excess = dro.domain_excess(sums, counts, self.last_excess, s.normalize, s.clip)
        weights = dro.update_weights(self.weights, excess, s.eta, s.smoothing)
        self.weights.copy_(weights)
        self.steps.add_(1)
        if int(self.steps) > self.burn_start:
            self.weight_sum.add_(weights)
        self.last_excess.copy_(excess)
        self.absent.add_((counts == 0).long())
        self.check_collapse(weights)
        return weights

    def average(self) -> list[float]:
        """The learned mixture: mean of alpha_t over the averaged steps (all T of them by default)."""
        return (self.weight_sum / max(self.averaged_steps(), 1)).tolist()

    def averaged_steps(self) -> int:
        return max(int(self.steps) - self.burn_start, 0)

    def diagnostics(self) -> dict:
        return {
            "skipped_steps": int(self.skipped),
            "steps_without_domain": dict(zip(self.domains, self.absent.tolist())),
        }

    def check_collapse(self, weights: torch.Tensor) -> None:
        s, k = self.settings, len(self.domains)
        top = int(weights.argmax())
        if float(weights[top]) > s.collapse_weight:
            self.warn_once(
                "top",
                f"weight of '{self.domains[top]}' is {float(weights[top]):.3f} (> {s.collapse_weight}): "
                "the weights are collapsing onto one domain. Usual remedies: a smaller dro.eta, a larger "
                "dro.smoothing, a better-trained reference (more reference.max_steps), or a larger proxy.batch_size",
            )
        p = weights.clamp_min(1e-300)
        entropy = float(-(p * p.log()).sum()) / math.log(k) if k > 1 else 1.0
        self.low_entropy.copy_(self.low_entropy + 1 if entropy < s.collapse_entropy else 0)
        if int(self.low_entropy) == s.collapse_steps:
            self.warn_once(
                "entropy",
                f"weight entropy has been below {s.collapse_entropy:.2f} of its maximum for {s.collapse_steps} "
                "steps: the weights are close to one-hot. Usual remedies: a smaller dro.eta, a larger "
                "dro.smoothing, or a longer-trained reference",
            )

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            say(f"[proxy] warning at step {int(self.steps)}: {message}")
        self._warned.add(key)


class ReferenceScorer(torch.nn.Module):
    """Per-token losses of the frozen reference: from `cache` (a doremi.methods.doremi.cache.ReferenceLosses)
    where it holds every row of a part, else from the reference's forward pass."""

    def __init__(self, model: torch.nn.Module, cache=None):
        super().__init__()
        self.model = model
        self.model.requires_grad_(False)
        self.model.eval()
        self.cache = cache

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()  # the reference stays in eval mode (no dropout) throughout
        return self

    def forward(self, part: dict) -> torch.Tensor:
        if self.cache is not None and "chunk" in part:
            cached = self.cache.lookup(part["domain"], part["chunk"])
            if cached is not None:
                return cached.to(part["input"].device)
        with torch.no_grad():
            return self.model.token_losses(part["input"], part["target"])


class BatchDraw(torch.nn.Module):
    """dro.sampling=resample: this process's share of each step's batch, drawn with the current
    weights from `batches`; what each domain is owed and how far its chunk order has been drawn
    live in buffers (`owed`, `drawn`), so a resumed run draws what an uninterrupted one would."""

    def __init__(self, batches: ResampledBatches, k: int):
        super().__init__()
        self.batches = batches
        self.register_buffer("owed", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("drawn", torch.zeros(k, dtype=torch.long))

    def draw(self, step: int, weights: torch.Tensor) -> tuple[dict, list[int]]:
        """(this process's part of batch `step` on the buffers' device, sequences per domain in the global batch)."""
        rank, world = rank_world()
        batch, counts, owed, drawn = self.batches.batch(
            step, weights.cpu().numpy(), self.owed.cpu().numpy(), self.drawn.cpu().numpy(), rank, world
        )
        self.owed.copy_(torch.from_numpy(owed))
        self.drawn.copy_(torch.from_numpy(drawn))
        return {key: value.to(self.owed.device) for key, value in batch.items()}, counts.tolist()
