"""What every online method's training-time part shares: a Lightning callback that steers the sampler's
weights as the model trains, writes the schedule, and keeps its state in checkpoints.

Every `every` optimizer steps it takes each domain's mean training loss over the window (summed over
processes, so that every process computes the same weights), updates the bandit and tells the
sampler to use the new weights from the first batch it has not drawn yet (the schedule records that
step). A run given a recorded schedule (`replay`) draws the same batches without updating anything.
Resume is exact: the bandit's rewards, the window's sums and the schedule are in
the checkpoint, and the sampler's schedule is restored with the loader's state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl


class ScheduledMixing(pl.Callback):
    """What every online method's callback shares: the sampler it steers, the schedule it keeps and writes
    (schedule.jsonl: step, weights), and a recorded schedule it follows instead (`replay`)."""

    def __init__(self, domains: list[str], schedule_file: Path, replay: list | None = None):
        self.domains, self.file, self.replay = list(domains), Path(schedule_file), replay
        self.schedule: list[dict] = []
        self.seconds = 0.0  # time inside the method's updates

    def sampler(self, trainer):
        return trainer.datamodule.loader.dataset.sampler

    def start_schedule(self, trainer) -> None:
        """At the start of training: the replayed schedule set in the sampler, or the first entry (unless resumed)."""
        sampler = self.sampler(trainer)
        if self.replay is not None:
            for entry in self.replay:
                sampler.set_weights(int(entry["step"]), [entry["weights"][d] for d in self.domains])
            self.schedule = list(self.replay)
        elif not self.schedule:
            self.schedule = [{"step": 0, "weights": dict(zip(self.domains, sampler.weights.tolist()))}]
        self.write(trainer)

    def write(self, trainer) -> None:
        if trainer.is_global_zero:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(self.file.name + ".tmp")
            tmp.write_text("".join(json.dumps(entry) + "\n" for entry in self.schedule))
            tmp.replace(self.file)
