"""The scored model as an average of the trained weights: less of the last steps' noise in what a verdict
compares (Signal and Noise, Heineman et al., 2025, arXiv 2508.13144: averaging checkpoints raises the
signal-to-noise ratio of small-scale decisions).

- `ema`: an exponential moving average of the weights after every optimizer step, with decay
  min(decay, (1 + n) / (10 + n)) after n updates, so that early evaluations are not pinned to the
  initialization.
- `lawa`: the uniform average of the last `count` snapshots taken every `every` optimizer steps
  (LAWA: Kaddour, 2022; Sanyal et al., 2023, arXiv 2306.03241).

Training never sees the averages: they are swapped in for held-out evaluation only and swapped back, so
the trained model, its checkpoints and model.pt are the raw weights, the same with or without averaging.
Both averages are kept whichever is scored, so the last evaluation can also score the other one and the
raw model (`score_as`), from the same run. The state is in the checkpoint: resume stays exact.
"""

from __future__ import annotations

from collections import deque

import pytorch_lightning as pl
import torch

KINDS = ("none", "ema", "lawa")


class WeightAverage(pl.Callback):
    def __init__(self, kind: str, decay: float = 0.99, every: int = 10, count: int = 5):
        if kind not in KINDS:
            raise ValueError(f"unknown average {kind!r}")
        self.kind, self.decay, self.every, self.count = kind, float(decay), int(every), int(count)
        self.scoring = kind  # what the next evaluation scores: none (raw), ema or lawa
        self.ema: list[torch.Tensor] | None = None
        self.updates = 0
        self.snapshots: deque[list[torch.Tensor]] = deque(maxlen=self.count)
        self._raw: list[torch.Tensor] | None = None
        self._seen_step = -1

    @staticmethod
    def _params(pl_module) -> list[torch.Tensor]:
        return [p for p in pl_module.model.parameters()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._seen_step:  # a micro-batch inside one optimizer step (gradient accumulation)
            return
        self._seen_step = step
        with torch.no_grad():
            current = [p.detach() for p in self._params(pl_module)]
            if self.ema is None:
                self.ema = [p.clone().float() for p in current]
            else:
                d = min(self.decay, (1 + self.updates) / (10 + self.updates))
                for average, p in zip(self.ema, current):
                    average.mul_(d).add_(p.float(), alpha=1 - d)
            self.updates += 1
            if step % self.every == 0:
                self.snapshots.append([p.clone().float() for p in current])

    def averaged(self, kind: str) -> list[torch.Tensor] | None:
        if kind == "ema":
            return self.ema
        if kind == "lawa" and self.snapshots:
            return [torch.stack(group).mean(dim=0) for group in zip(*self.snapshots)]
        return None

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        weights = self.averaged(self.scoring)
        if weights is None:
            return
        params = self._params(pl_module)
        with torch.no_grad():
            self._raw = [p.detach().clone() for p in params]
            for p, w in zip(params, weights):
                p.copy_(w.to(p.dtype))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        # callbacks' hooks run before the module's: the scores are summed in validation_step, already done
        if self._raw is None:
            return
        with torch.no_grad():
            for p, raw in zip(self._params(pl_module), self._raw):
                p.copy_(raw)
        self._raw = None

    def state_dict(self) -> dict:
        return {
            "ema": self.ema,
            "updates": self.updates,
            "snapshots": [list(s) for s in self.snapshots],
            "seen_step": self._seen_step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.ema = state["ema"]
        self.updates = int(state["updates"])
        self.snapshots = deque(state["snapshots"], maxlen=self.count)
        self._seen_step = int(state["seen_step"])


def score_alternatives(trainer, module, datamodule, average: WeightAverage) -> None:
    """At the end of training, the last evaluation also scores the raw model and the other average:
    history[-1]["alternatives"][kind] = {"losses", "documents"}, from the same run and held-out documents."""
    record = module.eval_history[-1]
    others = [k for k in KINDS if k != average.kind and (k == "none" or average.averaged(k) is not None)]
    for kind in others:
        average.scoring = kind
        trainer.validate(module, datamodule=datamodule, verbose=False)
        scored = module.eval_history.pop()
        record.setdefault("alternatives", {})["raw" if kind == "none" else kind] = {
            "losses": scored["losses"],
            **({"documents": scored["documents"]} if "documents" in scored else {}),
        }
    average.scoring = average.kind
