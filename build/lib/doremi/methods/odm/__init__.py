"""Online Data Mixing (Albalak et al., 2023; doremi.methods.odm.bandit): no runs before the real one; the final run's
sampler follows an EXP3 bandit rewarded by each domain's training loss, updated every online.every steps.

Learning writes the starting point (stratified weights) and the online settings; stage=final and
stage=compare train with the bandit (doremi.methods.odm.callback) and keep its schedule
(final/<method>/seed-<s>/schedule.jsonl). Its cost is its overhead inside the final run.

The simplest online method here (no fitted law, no probes): its signal (per-domain training loss) is free in
every step; its known failure mode (loss-rewarded bandits are drawn to noise) is measured in docs/results.md.
"""

from __future__ import annotations

from pathlib import Path

from doremi.methods import online
from doremi.methods.base import LearnContext, Method, OnlineSetup, ReportContext
from doremi.methods.common import mixture_for


def learn(ctx: LearnContext) -> dict:
    k = len(ctx.data.domains)
    o = ctx.cfg.online
    settings = {"method": "odm", "every": int(o.every), "smoothing": float(o.smoothing), "replay": o.get("replay")}
    cost = {"flops": 0.0, "what": "online: no runs before the real one; its overhead is measured in the final run"}
    return mixture_for(ctx, [1.0 / k] * k, {"online": settings, "cost": cost})


def callback(setup: OnlineSetup):
    """The training-time part: the bandit as a Lightning callback (doremi.methods.odm.callback), or a recorded
    schedule replayed (online.replay)."""
    from doremi.methods.odm.callback import OnlineMixing

    settings = setup.settings
    replay = online.read_schedule(Path(settings["replay"])) if settings.get("replay") else None
    return OnlineMixing(setup.domains, int(settings["every"]), float(settings["smoothing"]), setup.schedule, replay)


def report(ctx: ReportContext) -> list:
    """ODM's section: the bandit's schedule."""
    return online.schedule_report(ctx, "the bandit")


METHOD = Method(
    "odm",
    "Online Data Mixing: an EXP3 bandit over domains inside the final run, rewarded by training loss",
    learn,
    settings=("online",),
    sections=(online.SECTION,),
    report=report,
    online=callback,
)
