"""Aioli (Chen et al., 2024, arXiv 2411.05735; doremi.methods.aioli.rules): no runs before the real one; inside the final
run, every aioli.update_steps steps a LearnParams sweep over the domains re-estimates how training on each
lowers every domain's loss (on a probe set from the training split), and the proportions move by
exponentiated gradient. The best record against stratified sampling among online methods in its paper
(6 of 6 settings). Its cost is its probe evaluations and LearnParams steps, inside the final run's budget.

Learning writes the starting point (stratified weights, or learn.prior) and the settings; stage=final and
stage=compare train with the callback (doremi.methods.aioli.callback), keep its schedule and replay it (online.replay).
"""

from __future__ import annotations

from pathlib import Path

from doremi.methods import online
from doremi.methods.aioli import settings as aioli_settings
from doremi.methods.base import LearnContext, Method, OnlineSetup
from doremi.methods.common import mixture_for

PROBE_CONDITION = 50  # the largest condition number of the probe mixtures' matrix Aioli is allowed to solve


def check(k: int, a, run_steps: int) -> float:
    """Settings that would make Aioli a no-op or solve a (near-)singular system are refused in one line; the share
    of the run its LearnParams sweeps take is returned (said before training, warned above a half)."""
    from doremi.config.errors import DoremiError
    from doremi.methods.aioli.rules import probe_condition

    if int(a.update_steps) >= run_steps:
        raise DoremiError(
            f"aioli.update_steps={a.update_steps} is not below the run's {run_steps} steps (final.max_steps): the "
            "run would be only probe sweeps and the proportions would never move; lower aioli.update_steps"
        )
    condition = probe_condition(k, float(a.one_hot_factor))
    if condition > PROBE_CONDITION:
        raise DoremiError(
            f"aioli.one_hot_factor={a.one_hot_factor} is (close to) 1/{k}: with {k} domains every probe batch is "
            f"(nearly) uniform and the mixing law cannot be identified (condition number {condition:.3g}); choose a "
            f"factor well above 1/{k} (Aioli's reference: 0.625)"
        )
    return min(1.0, int(a.lp_rounds) * k * int(a.lp_steps) / int(a.update_steps))


def learn(ctx: LearnContext) -> dict:
    from doremi.store.runtime import say

    k = len(ctx.data.domains)
    a = ctx.cfg.aioli
    share = check(k, a, int(ctx.cfg.final.max_steps))
    say(
        f"[aioli] LearnParams sweeps take {a.lp_rounds} x {k} domains x {a.lp_steps} steps of every "
        f"{a.update_steps}: {share:.0%} of the final run trains on probe mixtures, not on Aioli's proportions"
        + (
            "; warning: more than half the run (lower aioli.lp_rounds or aioli.lp_steps, or raise aioli.update_steps)"
            if share > 0.5
            else ""
        )
    )
    settings = {
        "method": "aioli",
        "update_steps": int(a.update_steps),
        "lp_rounds": int(a.lp_rounds),
        "lp_steps": int(a.lp_steps),
        "eta": float(a.eta),
        "one_hot_factor": float(a.one_hot_factor),
        "ema": None if a.ema is None else float(a.ema),
        "probe_sequences": int(a.probe_sequences),
        "every": int(a.update_steps),  # the report's and export's word for the interval between updates
        "replay": ctx.cfg.online.get("replay"),
    }
    cost = {"flops": 0.0, "what": "online: LearnParams steps and probe evaluations inside the final run"}
    return mixture_for(ctx, [1.0 / k] * k, {"online": settings, "cost": cost})


def callback(setup: OnlineSetup):
    """The training-time part: doremi.methods.aioli.callback's callback, or a recorded schedule replayed (online.replay)."""
    from doremi.methods.aioli.callback import AioliMixing

    settings = setup.settings
    replay = online.read_schedule(Path(settings["replay"])) if settings.get("replay") else None
    probe = setup.probe(int(settings["probe_sequences"])) if replay is None else None
    return AioliMixing(setup.domains, settings, setup.schedule, setup.seed, probe, replay)


def report(ctx) -> list:
    """Aioli's section: its schedule, probe segments marked."""
    return online.schedule_report(ctx, "Aioli's LearnParams sweeps (the entries marked `probe` are their segments)")


METHOD = Method(
    "aioli",
    "Aioli: proportions moved inside the final run by a mixing law re-estimated on probe sweeps (Chen et al., 2024)",
    learn,
    settings=("aioli", "online.replay"),
    sections=(online.SECTION, aioli_settings.SECTION),
    report=report,
    online=callback,
)
