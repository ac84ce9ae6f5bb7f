"""A method added as a plug-in: one module (here, this test's), one registry entry; an online one brings its
training-time part, and stage=compare trains it without knowing its name."""

import json

import numpy as np
import pytest
import pytorch_lightning as pl

from doremi.stages import methods, run_stage
from doremi.stages.methods import Method
from doremi.stages.methods.common import mixture_for
from tests.conftest import domains_override, synthetic_domains


def learn_half(ctx):
    k = len(ctx.data.domains)
    return mixture_for(ctx, [0.5] + [0.5 / (k - 1)] * (k - 1), {"cost": {"flops": 0.0, "what": "none"}})


class FavourLast(pl.Callback):
    """At step `every`, all but a sliver of the weight to the last domain; records the probe it was given."""

    def __init__(self, setup):
        self.setup, self.schedule, self.seconds = setup, [], 0.0
        self.probe_ids, self.probe_rows = setup.probe(2)

    def on_train_start(self, trainer, pl_module):
        sampler = trainer.datamodule.loader.dataset.sampler
        self.schedule = [{"step": 0, "weights": dict(zip(self.setup.domains, sampler.weights.tolist()))}]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == int(self.setup.settings["every"]) and len(self.schedule) == 1:
            k = len(self.setup.domains)
            weights = [0.01] * (k - 1) + [1 - 0.01 * (k - 1)]
            start = trainer.datamodule.loader.dataset.sampler.set_weights(trainer.global_step + 1, weights)
            self.schedule.append({"step": start, "weights": dict(zip(self.setup.domains, weights))})
            self.setup.schedule.parent.mkdir(parents=True, exist_ok=True)
            self.setup.schedule.write_text("".join(json.dumps(e) + "\n" for e in self.schedule))


def learn_online(ctx):
    k = len(ctx.data.domains)
    return mixture_for(ctx, [1 / k] * k, {"online": {"method": "toy_online", "every": 5}, "cost": {"flops": 0.0}})


TOYS = {
    "toy_half": Method("toy_half", "half the weight on the first domain", learn_half),
    "toy_online": Method("toy_online", "moves to the last domain at step 5", learn_online, online=FavourLast),
}


@pytest.mark.slow
def test_a_plugged_in_method_and_an_online_one_run_through_compare(tmp_path, make_cfg, monkeypatch):
    registry = methods._registry
    monkeypatch.setattr(methods, "_registry", lambda: {**registry(), **TOYS})
    built = []
    monkeypatch.setitem(TOYS, "toy_online", Method("toy_online", "", learn_online, online=lambda s: built.append(FavourLast(s)) or built[-1]))  # fmt: skip
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits", "more": "words"}, seed=1)
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    run_stage(make_cfg(domains_override(files), "stage=compare", "compare.methods=[toy_half,toy_online]"))
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    rows = {r["method"]: r for r in board["rows"]}
    assert set(rows) == {"toy_half", "toy_online", "stratified", "natural"}
    assert rows["toy_half"]["weights"]["more"] == pytest.approx(0.5)  # domains in sorted order: more first
    # the online part ran inside the compare's training and changed the weights there
    schedule = [
        json.loads(x) for x in (tmp_path / "run/compare/toy_online/seed-0/schedule.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in schedule][0] == 0 and len(schedule) == 2
    assert schedule[1]["weights"]["prose"] > 0.9  # the last domain in sorted order
    assert rows["toy_online"]["same_models_as"] is None  # never shares the stratified models
    # its probe came from the training split: rows of seq_len + 1 tokens, 2 per domain
    probe = built[0]
    assert probe.probe_rows.shape == (6, 33) and np.bincount(probe.probe_ids).tolist() == [2, 2, 2]
