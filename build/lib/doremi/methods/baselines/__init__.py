"""Methods that learn nothing: stratified, natural, temperature and unimax (doremi.methods.baselines.rules).

They sit in the same table as the learned methods so that every mixture is judged the same way;
their cost is 0 FLOPs.
"""

from __future__ import annotations

from doremi.methods.base import LearnContext, Method
from doremi.methods.baselines import rules as heuristics
from doremi.methods.common import final_tokens, mixture_for


def _learn_with(rule, **extra):
    def learn(ctx: LearnContext) -> dict:
        tokens = [float(t) for t in ctx.data.token_counts("train")]
        weights, provenance = rule(ctx, tokens)
        return mixture_for(ctx, weights, {**provenance, **extra, "cost": {"flops": 0.0, "what": "no training"}})

    return learn


def _stratified(ctx, tokens):
    return heuristics.stratified(tokens), {}


def _natural(ctx, tokens):
    return heuristics.natural(tokens), {}


def _temperature(ctx, tokens):
    tau = float(ctx.cfg.learn.temperature)
    return heuristics.temperature(tokens, tau), {"temperature": tau}


def _unimax(ctx, tokens):
    budget = final_tokens(ctx.cfg, ctx.data)
    cap = ctx.cfg.plan.max_epochs
    cap = None if cap is None else float(cap)
    weights = heuristics.unimax(tokens, budget, cap)
    epochs = {d: float(w) * budget / t for d, w, t in zip(ctx.data.domains, weights, tokens)}
    return weights, {"max_epochs": cap, "token_budget": budget, "epochs": epochs}


METHODS = (
    Method("stratified", "every domain the same share (uniform)", _learn_with(_stratified)),
    Method("natural", "each domain's share of the training tokens", _learn_with(_natural)),
    Method(
        "temperature",
        "natural shares to the power 1/learn.temperature",
        _learn_with(_temperature),
        settings=("learn.temperature",),
    ),
    Method(
        "unimax",
        "uniform with at most plan.max_epochs passes over any domain in the final run (Chung et al., 2023)",
        _learn_with(_unimax),
        settings=("plan.max_epochs", "final.max_steps", "final.batch_size"),
    ),
)
