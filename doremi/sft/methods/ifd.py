"""`ifd`: instruction-following difficulty (Li et al., 2024, "From Quantity to Quality", arXiv 2308.12032),
scored by the base model: the response's mean loss given the prompt over its mean loss alone. As Cherry_LLM's
data_by_IFD.py does, examples scoring above 1 (the prompt does not help predict the response: misaligned
pairs) are dropped and the highest remaining scores kept; where fewer than the budget remain, the lowest of
the dropped fill it. Two forward passes per pool example."""

from __future__ import annotations

import numpy as np

from doremi.sft.methods.base import Selection, SetContext, SetMethod, top


def ifd_set(ctx: SetContext) -> Selection:
    from doremi.sft.score import ifd  # torch: only when a set is chosen, never to list the methods

    scorer = ctx.scorer()
    pool = ctx.everything()
    before = scorer.forward_passes
    scores = ifd(scorer, pool)
    aligned = [i for i, v in enumerate(scores) if np.isfinite(v) and v <= 1]
    chosen = top([pool[i] for i in aligned], scores[aligned], ctx.budget)
    if len(chosen) < ctx.budget:
        rest = [i for i in range(len(pool)) if i not in set(aligned)]
        chosen += top([pool[i] for i in rest], -np.nan_to_num(scores[rest], nan=np.inf), ctx.budget - len(chosen))
    notes = {"above_one": len(pool) - len(aligned), "median_ifd": float(np.nanmedian(scores)) if len(pool) else None}
    return Selection(chosen, {"forward_passes": scorer.forward_passes - before, "fits": 0}, notes)


METHOD = SetMethod(
    "ifd",
    "the highest instruction-following difficulty at most 1 (Li et al., 2024), base-model scored",
    ifd_set,
    uses_base=True,
    passes=2,
)
