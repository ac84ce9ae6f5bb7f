"""Callbacks: progress lines on screen, and the proxy's trajectory file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress(pl.Callback):
    """One line every `every` steps: step, loss, tokens/s, elapsed and ETA."""

    def __init__(self, label: str, max_steps: int, tokens_per_step: int, lines: int = 10):
        self.label = label
        self.max_steps = max_steps
        self.tokens_per_step = tokens_per_step
        self.every = max(1, max_steps // max(lines, 1))
        self.start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or (step % self.every and step != self.max_steps):
            return
        elapsed = time.perf_counter() - self.start
        rate = step * self.tokens_per_step / max(elapsed, 1e-9)
        eta = elapsed / max(step, 1) * (self.max_steps - step)
        loss = trainer.callback_metrics.get("train/loss")
        loss_text = f"loss {float(loss):.3f}  " if loss is not None else ""
        print(
            f"[{self.label}] step {step:>{len(str(self.max_steps))}}/{self.max_steps}  {loss_text}"
            f"{rate:,.0f} tok/s  elapsed {_clock(elapsed)}  eta {_clock(eta)}",
            file=sys.stderr,
            flush=True,
        )


class TrajectoryWriter(pl.Callback):
    """Appends the proxy's `last_record` to trajectory.jsonl after every optimizer step."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self._file = open(self.path, "a")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._file is not None and pl_module.last_record is not None:
            self._file.write(json.dumps(pl_module.last_record) + "\n")
            pl_module.last_record = None

    def on_train_end(self, trainer, pl_module) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
