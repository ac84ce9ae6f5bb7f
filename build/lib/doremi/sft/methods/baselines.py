"""The baselines: `random` (uniform over the pool: the pool's own proportions, no filter; "Rethinking data
selection at scale", Xia et al., 2024, find it hard to beat at scale) and `stratified` (equal quotas per source,
uniform within each)."""

from __future__ import annotations

from doremi.sft.methods.base import Selection, SetContext, SetMethod, fill, random_subset


def random_set(ctx: SetContext) -> Selection:
    return Selection(random_subset(ctx.everything(), ctx.budget, ctx.seed), {"forward_passes": 0, "fits": 0})


def stratified_set(ctx: SetContext) -> Selection:
    sizes = {s: len(ctx.pool[s]) for s in ctx.sources}
    quota = fill(sizes, dict.fromkeys(sizes, 1.0), ctx.budget)
    chosen = [ex for i, s in enumerate(ctx.sources) for ex in random_subset(ctx.pool[s], quota[s], ctx.seed + i)]
    return Selection(chosen, {"forward_passes": 0, "fits": 0}, {"quotas": quota})


METHODS = [
    SetMethod("random", "uniform over the pool, no filter (the baseline)", random_set),
    SetMethod("stratified", "equal quotas per source, uniform within each", stratified_set),
]
