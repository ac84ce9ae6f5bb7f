"""Choosing the set: exact quotas per source, temperature sampling across sub-categories.

Quotas come from `doremi.data.alloc.whole_shares` (largest remainder: the counts
sum to the budget exactly). Within a source, LIMA sampled Stack Exchange questions
across exchanges with a temperature: here category c is drawn with probability
proportional to n_c^(1/T) among categories with examples left (T=1 follows the pool's
proportions, large T approaches uniform over categories), then an example of it at
random, without replacement.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from doremi.sft.examples import Example


def sample_across_categories(examples: list[Example], count: int, temperature: float, seed: int) -> list[Example]:
    """`count` examples (at most all of them), spread across categories with `temperature`."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.category or ""].append(ex)
    names = sorted(groups)
    order = {n: list(rng.permutation(len(groups[n]))) for n in names}
    taken: list[Example] = []
    while len(taken) < min(count, len(examples)):
        left = [n for n in names if order[n]]
        sizes = np.array([len(groups[n]) for n in left], dtype=np.float64)
        p = sizes ** (1.0 / max(temperature, 1e-6))
        name = left[int(rng.choice(len(left), p=p / p.sum()))]
        taken.append(groups[name][order[name].pop()])
    return taken


def select(
    by_source: dict[str, list[Example]],
    quota: dict[str, int],
    temperature: float,
    seed: int,
    upsample: bool,
) -> tuple[dict[str, list[Example]], dict[str, dict[str, int]]]:
    """The chosen examples per source, and {source: {quota, available, chosen}} for the shortfalls."""
    chosen, report = {}, {}
    for i, (source, want) in enumerate(quota.items()):
        pool = by_source.get(source, [])
        picked = sample_across_categories(pool, want, temperature, seed + i)
        if upsample and pool and len(picked) < want:
            extra = np.random.default_rng(seed + 10_000 + i).choice(len(pool), want - len(picked))
            picked += [pool[j] for j in extra]
        chosen[source] = picked
        report[source] = {"quota": want, "available": len(pool), "chosen": len(picked)}
    return chosen, report
