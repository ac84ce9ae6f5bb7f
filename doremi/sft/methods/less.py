"""`less`: LESS-style selection for your target (Xia et al., 2024, "LESS: Selecting Influential Data for Targeted
Instruction Tuning", arXiv 2402.04333): each pool example's gradient feature (its response loss's gradient under the
base model, projected to sft.less.dim dimensions) against the target examples'; the examples whose gradients align
best with the target's are kept, up to the budget: each target example in turn takes its most aligned pool example
not yet taken (doremi.sft.methods.base.round_robin; the top of a mean cosine over the target keeps its most common
kind of example only). What LESS does besides (LoRA gradients after a short warm-up fine-tune, Adam's
preconditioning, several checkpoints, the max over target tasks) is left out: the base model's plain gradient of the
whole network. Two passes (forward and backward) per pool and target example."""

from __future__ import annotations

from doremi.sft.methods.base import Selection, SetContext, SetMethod, toward_target

DIM = 1024  # sft.less.dim's default


def less_set(ctx: SetContext) -> Selection:
    dim, seed = int(ctx.cfg.sft.less.dim or DIM), int(ctx.seed)
    return toward_target(ctx, "less", lambda scorer, chats: scorer.gradient_features(chats, dim, seed))


METHOD = SetMethod(
    "less",
    "LESS-style: the examples whose gradients align best with your target examples' (sft.target.paths)",
    less_set,
    uses_base=True,
    settings=("sft.less",),
    passes=2,
    uses_target=True,
)
