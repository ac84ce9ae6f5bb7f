"""Aioli (Chen et al., 2024, arXiv 2411.05735; doremi.aioli): no runs before the real one; inside the final
run, every aioli.update_steps steps a LearnParams sweep over the domains re-estimates how training on each
lowers every domain's loss (on a probe set from the training split), and the proportions move by
exponentiated gradient. The best record against stratified sampling among online methods in its paper
(6 of 6 settings). Its cost is its probe evaluations and LearnParams steps, inside the final run's budget.

Learning writes the starting point (stratified weights, or learn.prior) and the settings; stage=final and
stage=compare train with the callback (doremi.lit.aioli), keep its schedule and replay it (online.replay).
"""

from __future__ import annotations

from pathlib import Path

from doremi.stages.methods.base import LearnContext, Method, OnlineSetup
from doremi.stages.methods.common import mixture_for
from doremi.stages.methods.odm import report


def learn(ctx: LearnContext) -> dict:
    k = len(ctx.data.domains)
    a = ctx.cfg.aioli
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
    """The training-time part: doremi.lit.aioli's callback, or a recorded schedule replayed (online.replay)."""
    from doremi.lit.aioli import AioliMixing
    from doremi.lit.online import read_schedule

    settings = setup.settings
    replay = read_schedule(Path(settings["replay"])) if settings.get("replay") else None
    probe = setup.probe(int(settings["probe_sequences"])) if replay is None else None
    return AioliMixing(setup.domains, settings, setup.schedule, setup.seed, probe, replay)


METHOD = Method(
    "aioli",
    "Aioli: proportions moved inside the final run by a mixing law re-estimated on probe sweeps (Chen et al., 2024)",
    learn,
    settings=("aioli", "online.replay"),
    report=report,
    online=callback,
)
