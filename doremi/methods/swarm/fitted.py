"""What RegMix and the mixing law share: the swarm they fit, its target, their constraints and provenance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doremi.methods.base import LearnContext
from doremi.methods.common import box, target_of
from doremi.store.runtime import say

# Settings that decide a swarm-fitted mixture.
SETTINGS = (
    "swarm",
    "model",
    "optim",
    "learn.target",
    "plan",
    "final.max_steps",
    "final.batch_size",
    "final.eval_chunks",
)


@dataclass
class Swarm:
    weights: np.ndarray  # (R, k)
    losses: np.ndarray  # (R, k)
    target: np.ndarray  # (R,)
    kind: str
    indices: list[int] | None
    prior: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    provenance: dict
    found: list[dict]  # the finished runs' results


def swarm_of(ctx: LearnContext) -> Swarm:
    from doremi.config.errors import DoremiError
    from doremi.data.mixture import resolve_mixture
    from doremi.methods.swarm.runs import table, target_values

    cfg, data = ctx.cfg, ctx.data
    kind, indices = target_of(cfg, data.domains)
    found, missing = ctx.swarm(bool(cfg.swarm.train))
    if missing:
        say(f"[{ctx.name}] fitting on {len(found)} of {int(cfg.swarm.runs)} swarm runs: {len(missing)} missing")
    if len(found) < max(4, len(data.domains) + 1):
        raise DoremiError(
            f"the swarm has {len(found)} finished run(s); {ctx.name} needs at least {max(4, len(data.domains) + 1)}: "
            "run the missing ones (stage=swarm, or swarm.train=true) or raise swarm.runs"
        )
    weights, losses = table(found, data.domains)
    prior = np.array(resolve_mixture(str(cfg.swarm.prior), data.domains, data.token_counts("train"), "swarm.prior"))
    lo, hi = box(cfg, data)
    flops = float(sum(r["flops"] for r in found))
    provenance = {
        "target": {"kind": kind, "domains": [data.domains[i] for i in indices] if indices else None},
        "swarm": {
            "runs": len(found),
            "missing": len(missing),
            "steps": int(cfg.swarm.steps),
            "parameters": int(found[0]["parameters"]),
            "folder": str(ctx.locate("swarm_runs").parent),
        },
        "cost": {"flops": flops, "what": f"{len(found)} swarm runs of {int(found[0]['parameters']):,} parameters"},
    }
    if kind == "external":  # fitted to the user's target: each run's loss on the target's screen part
        values = np.array([float(r["target_loss"]) for r in found])
        provenance["target"]["external"] = "target.paths: each run scored on the target's screen part"
    else:
        values = target_values(losses, kind, indices)
    return Swarm(weights, losses, values, kind, indices, prior, lo, hi, provenance, found)


def scale_of(ctx: LearnContext, swarm: Swarm, weights) -> dict:
    """With swarm.check_scale=<model preset>: the scale check of doremi.stages.swarm, in the provenance."""
    if not ctx.cfg.swarm.get("check_scale"):
        return {}
    return {"scale_check": ctx.scale_check(weights, swarm.kind, swarm.indices, swarm.found)}


def fit_quality(ctx: LearnContext, swarm: Swarm, predicted: np.ndarray) -> dict:
    """Spearman and MAE of the held-out predictions, with a warning below swarm.min_spearman."""
    from doremi.methods.swarm.fits import quality

    found = quality(swarm.target, predicted)
    threshold = float(ctx.cfg.swarm.min_spearman)
    say(
        f"[{ctx.name}] fit on held-out runs ({int(ctx.cfg.swarm.folds)}-fold): Spearman {found['spearman']:.3f}, "
        f"mean absolute error {found['mae']:.4f} nats/token"
    )
    if not found["spearman"] >= threshold:
        found["warning"] = (
            f"the fit ranks held-out swarm runs with Spearman {found['spearman']:.3f} < swarm.min_spearman={threshold}: "
            "its optimum is a guess. More runs (swarm.runs; Olmix grows them with the number of domains) or steps "
            "(swarm.steps) reached 0.5 on two of the three bench corpora (96 runs x 60 steps; 48 x 60) and at no size "
            "up to 96 runs on the third: measure yours with bench/bench_swarm.py before trusting a fitted mixture"
        )
        say(f"[{ctx.name}] warning: {found['warning']}")
    found["predicted"] = predicted.tolist()
    found["observed"] = swarm.target.tolist()
    return found
