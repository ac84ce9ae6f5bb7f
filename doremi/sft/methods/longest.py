"""`longest`: the examples with the longest responses ("Long Is More for Alignment", Zhao et al., 2024, arXiv
2402.04833: the 1,000 longest responses are a baseline curated selections struggle to beat). Exact duplicates
(normalized text) count once."""

from __future__ import annotations

from doremi.sft.dedup import deduplicate
from doremi.sft.methods.base import Selection, SetContext, SetMethod, top


def longest_set(ctx: SetContext) -> Selection:
    unique, _ = deduplicate(sorted(ctx.everything(), key=lambda ex: ex.id), 1.0, 16, False)
    chosen = top(unique, [len(ex.response) for ex in unique], ctx.budget)
    return Selection(
        chosen,
        {"forward_passes": 0, "fits": 0},
        {"shortest_chosen_chars": min((len(e.response) for e in chosen), default=0)},
    )


METHOD = SetMethod("longest", "the longest responses (Zhao et al., 2024)", longest_set)
