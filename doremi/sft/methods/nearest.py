"""`nearest`: the cheap baseline a target-aware method must beat: the pool examples whose base-model representation
(the mean last-layer state, unit length) is closest (cosine) to a target example's, each target example in turn taking
its nearest not yet taken (doremi.sft.methods.base.round_robin). One forward pass per pool and target example."""

from __future__ import annotations

from doremi.sft.methods.base import Selection, SetContext, SetMethod, toward_target


def nearest_set(ctx: SetContext) -> Selection:
    return toward_target(ctx, "nearest", lambda scorer, chats: scorer.representations(chats))


METHOD = SetMethod(
    "nearest",
    "nearest to your target: the examples whose base-model representation is closest to the target examples'",
    nearest_set,
    uses_base=True,
    passes=1,
    uses_target=True,
)
