"""DoGE (Fan et al., 2024, arXiv 2310.15393; doremi.methods.doge.rule): a DoReMi-family method aimed at a target. Like
DoReMi it trains a small proxy while the domain weights move by mirror descent and keeps their average; where DoReMi
moves them by excess loss against a reference model, DoGE moves them by how well each domain's gradient aligns with
the target's, so that the mixture is the one whose training lowers the target's loss fastest. With target.paths the
target is your documents (its screen part only: a compare decides on the rest); else learn.target's domains, or all of
them (DoGE's in-domain case). Cost: k + 1 backward passes per proxy step.
"""

from __future__ import annotations

from doremi.methods.base import LearnContext, Method
from doremi.methods.common import aimed_at, mixture_for, target_of
from doremi.methods.doge.settings import SECTION


def learn(ctx: LearnContext) -> dict:
    from doremi.config.errors import DoremiError
    from doremi.methods.doge.learning import train

    cfg, data = ctx.cfg, ctx.data
    kind, indices = target_of(cfg, data.domains)
    if kind == "worst":
        raise DoremiError(
            "method=doge aims at a target: learn.target=worst has none; use average, domains or target.paths"
        )
    target = aimed_at(cfg, data)
    rows = target.screen_rows() if target is not None else None
    result = train(cfg, data, rows, indices, ctx.name)
    k = len(data.domains)
    provenance = {
        "target": {
            "kind": kind,
            "domains": [data.domains[i] for i in indices] if indices else None,
            **({"external": target.describe()} if target is not None else {}),
        },
        "doge": {"last": dict(zip(data.domains, result["last"])), "steps": len(result["trajectory"])},
        "cost": {
            "flops": result["flops"],
            "what": f"a proxy of {int(cfg.doge.steps)} steps, {k + (rows is not None)} batches each",
        },
    }
    return mixture_for(ctx, result["weights"], provenance)


METHOD = Method(
    name="doge",
    doc="DoGE: proxy weights moved by gradient alignment with the target (target.paths or learn.target), averaged",
    learn=learn,
    settings=("doge", "learn.target", "model", "optim"),
    sections=(SECTION,),
    joins_target=True,
)
