"""A toy online method, whole in this one folder as a method of doremi/methods/ would be: its settings section,
its `learn`, its training-time part and its section of the report. The plug-in test adds it with one registry
line and runs it through stage=compare and stage=report."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytorch_lightning as pl

from doremi.config.fields import Number, s
from doremi.methods import Method, ReportContext
from doremi.methods.common import mixture_for


@dataclass
class ToyOnline:
    """method=toy_online: all but a sliver of the weight moves to the last domain at one step."""

    every: int = s(5, "the step at which the weights move", ge=1)
    sliver: Number = s(0.01, "what every other domain keeps", gt=0, lt=0.5)


class FavourLast(pl.Callback):
    """At step `every`, all but `sliver` of the weight to the last domain; records the probe it was given."""

    def __init__(self, setup):
        self.setup, self.schedule, self.seconds = setup, [], 0.0
        self.probe_ids, self.probe_rows = setup.probe(2)

    def on_train_start(self, trainer, pl_module):
        sampler = trainer.datamodule.loader.dataset.sampler
        self.schedule = [{"step": 0, "weights": dict(zip(self.setup.domains, sampler.weights.tolist()))}]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == int(self.setup.settings["every"]) and len(self.schedule) == 1:
            k, sliver = len(self.setup.domains), float(self.setup.settings["sliver"])
            weights = [sliver] * (k - 1) + [1 - sliver * (k - 1)]
            start = trainer.datamodule.loader.dataset.sampler.set_weights(trainer.global_step + 1, weights)
            self.schedule.append({"step": start, "weights": dict(zip(self.setup.domains, weights))})
            self.setup.schedule.parent.mkdir(parents=True, exist_ok=True)
            self.setup.schedule.write_text("".join(json.dumps(e) + "\n" for e in self.schedule))


def learn(ctx):
    k, toy = len(ctx.data.domains), ctx.cfg.toy_online
    online = {"method": ctx.name, "every": int(toy.every), "sliver": float(toy.sliver)}
    return mixture_for(ctx, [1 / k] * k, {"online": online, "cost": {"flops": 0.0, "what": "nothing before the run"}})


def report(ctx: ReportContext) -> list:
    online = ctx.mixture["provenance"]["online"]
    return [("Toy schedule", [f"The toy moved the weights to the last domain at step {online['every']}."])]


METHOD = Method(
    "toy_online",
    "moves to the last domain at step toy_online.every",
    learn,
    settings=("toy_online",),
    sections=(("toy_online", ToyOnline, "method=toy_online"),),
    report=report,
    online=FavourLast,
)
