"""`lima`: LIMA's recipe (Zhou et al., 2023, arXiv 2305.11206): quality filters, exact and near-duplicate
removal across sources, quotas per source (uniform, sft.mixture, pretraining weights mapped through
sft.domain_to_source, or sft.counts), temperature sampling across sub-categories within a source."""

from __future__ import annotations

from collections import Counter, defaultdict

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.data.alloc import whole_shares
from doremi.data.mixture import closest, load_mixture
from doremi.sft.choose import select
from doremi.sft.dedup import deduplicate
from doremi.sft.examples import Example
from doremi.sft.filters import apply_filters
from doremi.sft.methods.base import Selection, SetContext, SetMethod


def source_weights(cfg: DictConfig, sources: list[str]) -> dict[str, float]:
    """Weights over sources: explicit counts, a mixture over sources, pretraining weights mapped to sources, or uniform."""
    sft = cfg.sft
    if sft.counts:
        unknown = [s for s in sft.counts if s not in sources]
        if unknown:
            raise DoremiError(
                f"sft.counts names {unknown[0]!r}, not a source of the pools{closest(unknown[0], sources)}"
            )
        return {s: float(sft.counts.get(s, 0)) for s in sources}
    if sft.mixture is None or sft.mixture == "learned":
        return {s: 1.0 / len(sources) for s in sources}
    if sft.domain_to_source:
        weights = load_mixture(str(sft.mixture))
        mapped: dict[str, float] = defaultdict(float)
        for domain, source in sft.domain_to_source.items():
            if domain not in weights:
                raise DoremiError(
                    f"sft.domain_to_source: {domain!r} is not a domain of {sft.mixture}{closest(domain, list(weights))}"
                )
            if source not in sources:
                raise DoremiError(
                    f"sft.domain_to_source: {source!r} is not a source of the pools{closest(source, sources)}"
                )
            mapped[source] += weights[domain]
        return {s: mapped.get(s, 0.0) for s in sources}
    return load_mixture(str(sft.mixture), domains=sources, normalize=True)


def curated(ctx: SetContext) -> tuple[dict[str, list[Example]], dict]:
    """The pool after LIMA's filters and dedup, by source, and the funnel {source: {pool, filtered, duplicates}}."""
    sft = ctx.cfg.sft
    pool = ctx.everything()
    kept, filtered = apply_filters(pool, sft.filters)
    kept.sort(key=lambda ex: (-(ex.score if ex.score is not None else 0.0), ex.id))  # dedup keeps the first
    kept, duplicates = deduplicate(kept, float(sft.dedup.threshold), int(sft.dedup.num_perm), bool(sft.dedup.near))
    if not kept:
        raise DoremiError(
            f"sft: all {len(pool)} examples were removed by sft.filters and dedup ({dict(filtered)}); "
            "loosen sft.filters (e.g. sft.filters.min_chars) or add pools"
        )
    by_source: dict[str, list[Example]] = defaultdict(list)
    for ex in kept:
        by_source[ex.source].append(ex)
    pooled = Counter(ex.source for ex in pool)
    funnel = {
        s: {
            "pool": pooled[s],
            "filtered": filtered.get(s, {}),
            "duplicates": duplicates.get(s, {}),
            "after_filters_and_dedup": len(by_source.get(s, [])),
        }
        for s in ctx.sources
    }
    return dict(by_source), funnel


def with_quotas(ctx: SetContext, by_source: dict, funnel: dict, weights: dict[str, float], cost: dict) -> Selection:
    """Quotas from `weights` (or sft.counts), then temperature sampling within each source."""
    sft = ctx.cfg.sft
    quota = {s: int(n) for s, n in weights.items()} if sft.counts else whole_shares(weights, ctx.budget)
    chosen, selection = select(by_source, quota, float(sft.temperature), ctx.seed, bool(sft.upsample))
    for source in funnel:
        funnel[source]["chosen"] = selection[source]["chosen"]
    notes = {"weights": weights, "quotas": quota, "selection": selection, "funnel": funnel}
    return Selection([ex for s in ctx.sources for ex in chosen.get(s, [])], cost, notes)


def lima_set(ctx: SetContext) -> Selection:
    by_source, funnel = curated(ctx)
    return with_quotas(ctx, by_source, funnel, source_weights(ctx.cfg, ctx.sources), {"forward_passes": 0, "fits": 0})


SETTINGS = (
    "sft.filters",
    "sft.dedup",
    "sft.mixture",
    "sft.domain_to_source",
    "sft.counts",
    "sft.temperature",
    "sft.upsample",
)
METHOD = SetMethod("lima", "LIMA's filters, exact and near dedup, quotas per source", lima_set, settings=SETTINGS)
