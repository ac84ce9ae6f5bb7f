"""What every method's `learn` shares: the final run's budget and the mixture file it returns."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from doremi.data.mixture import FLOOR, make_mixture, natural, stratified


def final_tokens(cfg: DictConfig, data) -> int:
    """Tokens one final model trains on: the budget a mixture is learned for."""
    return int(cfg.final.max_steps) * int(cfg.final.batch_size) * int(data.seq_len)


def mixture_for(ctx, weights, provenance: dict) -> dict:
    """A doremi-mixture/v1 dict of `weights` (in the data's domain order) learned by `ctx.name`."""
    from doremi.store.runtime import code_version

    data = ctx.data
    tokens = [float(t) for t in data.token_counts("train")]
    baselines = {"uniform": stratified(tokens).tolist(), "natural": natural(tokens).tolist()}
    weights = [max(float(w), FLOOR) for w in weights]  # a learned mixture keeps every domain (> 0)
    total = sum(weights)
    return make_mixture(
        data.domains,
        [w / total for w in weights],
        baselines,
        {
            "method": ctx.name,
            **provenance,
            "seed": int(ctx.cfg.seed),
            "tokenizer": data.tokenizer,
            "data_hash": data.manifest["data_hash"],
            "config": OmegaConf.to_container(ctx.cfg, resolve=True),
            "code_version": code_version(),
        },
    )


def target_of(cfg: DictConfig, domains: list[str]) -> tuple[str, list[int] | None]:
    """learn.target: ('average', None), ('worst', None), ('target', domain indices) or ('external', None): the
    documents of target.paths, chosen when they are given and learn.target is left at average."""
    from doremi.config.errors import DoremiError

    value = cfg.learn.target
    given = bool(cfg.get("target") is not None and cfg.target.get("paths"))
    if value == "external" or (value == "average" and given):
        return "external", None
    if isinstance(value, str) and value in ("average", "worst"):
        return value, None
    names = [value] if isinstance(value, str) else list(OmegaConf.to_container(value) if value is not None else [])
    unknown = [str(n) for n in names if str(n) not in domains]
    if not names or unknown:
        raise DoremiError(
            f"learn.target={value}: expected average, worst or a list of domains of the data "
            f"({', '.join(domains)}){f'; {unknown[0]!r} is not one' if unknown else ''}"
        )
    return "target", [domains.index(str(n)) for n in names]


def aimed_at(cfg: DictConfig, data):
    """The target a target-aware method aims at (doremi.data.target): target.paths when learn.target is external
    (chosen when they are given), else None."""
    from doremi.data.target import target_for

    kind, _ = target_of(cfg, data.domains)
    return target_for(cfg, data) if kind == "external" else None


def constraints(cfg: DictConfig, data) -> dict:
    """The plan's constraints at the final run's budget, as doremi.outputs.plan.plan and doremi.outputs.plan.bounds take them:
    available tokens per domain, budget, max_epochs, pinned, min_weight, max_weight."""
    from doremi.outputs.plan import pinned_weights

    p = cfg.plan
    return {
        "available": dict(zip(data.domains, map(float, data.token_counts("train")))),
        "budget": float(final_tokens(cfg, data)),
        "max_epochs": None if p.max_epochs is None else float(p.max_epochs),
        "pinned": pinned_weights(p.pin),
        "min_weight": float(p.min_weight),
        "max_weight": float(p.max_weight),
    }


def box(cfg: DictConfig, data):
    """(lower, upper) weight bounds of the plan's constraints at the final run's budget (doremi.outputs.plan.bounds)."""
    from doremi.outputs.plan import bounds

    lo, hi, _ = bounds(data.domains, **constraints(cfg, data))
    return lo, hi
