"""Online Data Mixing (Albalak et al., 2023; doremi.online): no runs before the real one; the final run's
sampler follows an EXP3 bandit rewarded by each domain's training loss, updated every online.every steps.

Learning writes the starting point (stratified weights) and the online settings; stage=final and
stage=compare train with the bandit (doremi.lit.online) and keep its schedule
(final/<method>/seed-<s>/schedule.jsonl). Its cost is its overhead inside the final run.

The simplest online method here (no fitted law, no probes): its signal (per-domain training loss) is free in
every step; its known failure mode (loss-rewarded bandits are drawn to noise) is measured in docs/results.md.
"""

from __future__ import annotations

from pathlib import Path

from doremi.files import read_jsonl
from doremi.stages.methods.base import LearnContext, Method, OnlineSetup, ReportContext
from doremi.stages.methods.common import mixture_for


def learn(ctx: LearnContext) -> dict:
    k = len(ctx.data.domains)
    o = ctx.cfg.online
    settings = {"method": "odm", "every": int(o.every), "smoothing": float(o.smoothing), "replay": o.get("replay")}
    cost = {"flops": 0.0, "what": "online: no runs before the real one; its overhead is measured in the final run"}
    return mixture_for(ctx, [1.0 / k] * k, {"online": settings, "cost": cost})


def callback(setup: OnlineSetup):
    """The training-time part: the bandit as a Lightning callback (doremi.lit.online), or a recorded schedule
    replayed (online.replay)."""
    from doremi.lit.online import OnlineMixing, read_schedule

    settings = setup.settings
    replay = read_schedule(Path(settings["replay"])) if settings.get("replay") else None
    return OnlineMixing(setup.domains, int(settings["every"]), float(settings["smoothing"]), setup.schedule, replay)


def schedule_files(ctx: ReportContext) -> list:
    """The schedules of the final run's seeds (or of stage=compare's)."""
    name = ctx.mixture["provenance"]["method"]
    found = sorted(ctx.locate("final_models").glob(f"{name}/seed-*/schedule.jsonl"))
    return found or sorted(ctx.locate("leaderboard").parent.glob(f"{name}/seed-*/schedule.jsonl"))


def report(ctx: ReportContext) -> list:
    """ODM's section: the bandit's schedule."""
    return schedule_report(ctx, "the bandit")


def schedule_report(ctx: ReportContext, by: str) -> list:
    """An online method's section: the schedule of the first seed of the final run (or of stage=compare), plotted,
    its weights `by` what moved them (each online method says what)."""
    from doremi.report import plots

    mixture, folder = ctx.mixture, ctx.folder
    found = schedule_files(ctx)
    if not found:
        return [("Online weights", ["The weights change during the final run; run stage=final to see them."])]
    schedule = read_jsonl(found[0])
    plots.weights_over_steps(mixture["domains"], schedule, folder / "schedule.png", steps_of="final run")
    online = mixture["provenance"]["online"]
    return [
        (
            "Online weights",
            [
                f"The sampler's weights during the final run ({found[0].parent.name}), updated every "
                f"{online['every']} steps by {by}; {len(schedule)} entries in "
                f"{found[0].name}; dashed: the running average over updates.",
                {"src": "schedule.png", "alt": "online weights over the final run's steps"},
            ],
        )
    ]


METHOD = Method(
    "odm",
    "Online Data Mixing: an EXP3 bandit over domains inside the final run, rewarded by training loss",
    learn,
    settings=("online",),
    report=report,
    online=callback,
)
