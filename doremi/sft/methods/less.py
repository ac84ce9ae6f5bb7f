"""`less`: LESS-style selection for your target (Xia et al., 2024, "LESS: Selecting Influential Data for Targeted
Instruction Tuning", arXiv 2402.04333): each pool example's gradient feature (its response loss's gradient under the
base model, projected to sft.less.dim dimensions) against the target examples'; the examples whose gradients align
best with the target's (the mean cosine over the target examples) are kept, up to the budget. What LESS does besides
(LoRA gradients after a short warm-up fine-tune, Adam's preconditioning, several checkpoints, the max over target
tasks) is left out: the base model's plain gradient of the whole network, one task. Two passes (forward and backward)
per pool and target example."""

from __future__ import annotations

import numpy as np

from doremi.sft.methods.base import Selection, SetContext, SetMethod, round_robin

DIM = 1024  # sft.less.dim's default


def aligned(pool: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(pool, target) cosines of the features (all unit length or zero)."""
    return pool @ target.T


def less_set(ctx: SetContext) -> Selection:
    if not ctx.target:
        from doremi.config.errors import DoremiError

        raise DoremiError("less selects toward your target: give sft.target.paths=[files of target chats]")
    scorer = ctx.scorer()
    pool = sorted(ctx.everything(), key=lambda ex: ex.id)
    before = scorer.forward_passes
    dim, seed = int(ctx.cfg.sft.less.dim or DIM), int(ctx.seed)
    features = scorer.gradient_features([ex.messages for ex in pool], dim, seed)
    aim = scorer.gradient_features([ex.messages for ex in ctx.target], dim, seed)
    similarity = aligned(features, aim)
    rows = round_robin(similarity, ctx.budget)
    chosen = [pool[i] for i in sorted(rows)]
    best = similarity.max(axis=1)
    notes = {"alignment": {"kept_mean": float(best[rows].mean()), "pool_mean": float(best.mean())}}
    return Selection(chosen, {"forward_passes": scorer.forward_passes - before, "fits": 0}, notes)


METHOD = SetMethod(
    "less",
    "LESS-style: the examples whose gradients align best with your target examples' (sft.target.paths)",
    less_set,
    uses_base=True,
    settings=("sft.less",),
    passes=2,
    uses_target=True,
)
