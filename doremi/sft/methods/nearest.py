"""`nearest`: the cheap baseline a target-aware method must beat: the pool examples whose base-model representation
(the mean last-layer state, unit length) is closest (cosine) to a target example's, each target example in turn taking
its nearest not yet taken (doremi.sft.methods.base.round_robin). One forward pass per pool and target example."""

from __future__ import annotations

from doremi.sft.methods.base import Selection, SetContext, SetMethod, round_robin


def nearest_set(ctx: SetContext) -> Selection:
    if not ctx.target:
        from doremi.config.errors import DoremiError

        raise DoremiError("nearest selects toward your target: give sft.target.paths=[files of target chats]")
    scorer = ctx.scorer()
    pool = sorted(ctx.everything(), key=lambda ex: ex.id)
    before = scorer.forward_passes
    points = scorer.representations([ex.messages for ex in pool])
    aims = scorer.representations([ex.messages for ex in ctx.target])
    rows = round_robin(points @ aims.T, ctx.budget)
    return Selection([pool[i] for i in sorted(rows)], {"forward_passes": scorer.forward_passes - before, "fits": 0})


METHOD = SetMethod(
    "nearest",
    "nearest to your target: the examples whose base-model representation is closest to the target examples'",
    nearest_set,
    uses_base=True,
    passes=1,
    uses_target=True,
)
