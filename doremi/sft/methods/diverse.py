"""`diverse`: greedy k-center on the base model's representations (each example's mean last-layer state, unit
length): the first example at random, then repeatedly the one farthest (cosine distance) from every example
chosen so far, so that near-duplicates and crowded regions give one example each (the coverage idea of DEITA's
embedding-distance filter, Liu et al., 2024, without its scores). One forward pass per pool example."""

from __future__ import annotations

import numpy as np

from doremi.sft.methods.base import Selection, SetContext, SetMethod


def k_center(points: np.ndarray, count: int, seed: int) -> list[int]:
    """Indices of `count` rows of unit vectors chosen by greedy k-center (the farthest-first traversal)."""
    n = len(points)
    if count >= n:
        return list(range(n))
    first = int(np.random.default_rng(seed).integers(n))
    chosen, distance = [first], 1.0 - points @ points[first]
    distance[first] = -np.inf
    for _ in range(count - 1):
        j = int(np.argmax(distance))
        chosen.append(j)
        distance = np.minimum(distance, 1.0 - points @ points[j])
        distance[chosen] = -np.inf
    return chosen


def diverse_set(ctx: SetContext) -> Selection:
    scorer = ctx.scorer()
    pool = sorted(ctx.everything(), key=lambda ex: ex.id)
    before = scorer.forward_passes
    points = scorer.representations([ex.messages for ex in pool])
    chosen = [pool[i] for i in sorted(k_center(points, ctx.budget, ctx.seed))]
    return Selection(chosen, {"forward_passes": scorer.forward_passes - before, "fits": 0})


METHOD = SetMethod(
    "diverse",
    "greedy k-center on the base model's representations (coverage, no near-duplicates)",
    diverse_set,
    uses_base=True,
    passes=1,
)
