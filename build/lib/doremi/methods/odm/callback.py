"""ODM's training-time part: every `every` optimizer steps it takes each domain's mean training loss over the
window (summed over processes, so that every process computes the same weights), updates the bandit
(doremi.methods.odm.bandit) and tells the sampler to use the new weights from the first batch it has not drawn
yet (the schedule records that step). Resume is exact: the bandit's rewards, the window's sums and the
schedule are in the checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from doremi.methods.odm import bandit as online
from doremi.methods.scheduled import ScheduledMixing
from doremi.training.lm import reduce_sum


class OnlineMixing(ScheduledMixing):
    def __init__(
        self, domains: list[str], every: int, smoothing: float, schedule_file: Path, replay: list | None = None
    ):
        super().__init__(domains, schedule_file, replay)
        self.every, self.smoothing = int(every), float(smoothing)
        k = len(self.domains)
        self.rewards = np.zeros(k)
        self.window_sums, self.window_rows = np.zeros(k), np.zeros(k)

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_schedule(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.replay is not None or pl_module.domain_losses is None:
            return
        started = time.perf_counter()
        try:
            self.observe(trainer, pl_module, batch_idx)
        finally:
            self.seconds += time.perf_counter() - started

    def observe(self, trainer, pl_module, batch_idx: int) -> None:
        """Add this micro-batch's per-domain losses to the window; at an update step, the bandit moves."""
        sums, rows = pl_module.domain_losses
        pl_module.domain_losses = None
        self.window_sums += reduce_sum(pl_module, sums).cpu().numpy()
        self.window_rows += reduce_sum(pl_module, rows).cpu().numpy()
        step = trainer.global_step
        last_micro = (batch_idx + 1) % max(trainer.accumulate_grad_batches, 1) == 0
        if not last_micro or step == 0 or step % self.every or step >= trainer.max_steps:
            return
        seen = self.window_rows > 0
        losses = np.where(seen, self.window_sums / np.maximum(self.window_rows, 1), 0.0)
        current = np.array([self.schedule[-1]["weights"][d] for d in self.domains])
        self.rewards = online.update(self.rewards, losses, seen, current, self.smoothing)
        weights = online.mixture(self.rewards, step)
        start = self.sampler(trainer).set_weights(step + 1, weights.tolist())
        self.schedule.append({"step": start, "weights": dict(zip(self.domains, weights.tolist()))})
        self.window_sums[:], self.window_rows[:] = 0, 0
        self.write(trainer)

    def state_dict(self) -> dict:
        return {
            "rewards": self.rewards.tolist(),
            "window_sums": self.window_sums.tolist(),
            "window_rows": self.window_rows.tolist(),
            "schedule": self.schedule,
        }

    def load_state_dict(self, state: dict) -> None:
        self.rewards = np.asarray(state["rewards"], dtype=np.float64)
        self.window_sums = np.asarray(state["window_sums"], dtype=np.float64)
        self.window_rows = np.asarray(state["window_rows"], dtype=np.float64)
        self.schedule = list(state["schedule"])
