"""`learned`: LIMA's filters and dedup, then quotas per source learned by Group DRO over the sources (a reference
fine-tuned on uniform quotas, a proxy against it: doremi.methods.doremi.sft_quotas, DoReMi's algorithm on response tokens)."""

from __future__ import annotations

from doremi.sft.methods.base import Selection, SetContext, SetMethod
from doremi.sft.methods.lima import curated, with_quotas


def learned_set(ctx: SetContext) -> Selection:
    by_source, funnel = curated(ctx)
    steps = int(ctx.cfg.sft.learn.steps)
    weights = ctx.learn_quotas(by_source)
    return with_quotas(ctx, by_source, funnel, weights, {"forward_passes": 0, "fits": 0, "fine_tune_steps": 2 * steps})


METHOD = SetMethod(
    "learned",
    "LIMA's filters and dedup, quotas learned by Group DRO over sources",
    learned_set,
    uses_base=True,
    settings=("sft.filters", "sft.dedup", "sft.learn", "dro", "sft.temperature", "sft.upsample"),
    learns_quotas=True,
)
