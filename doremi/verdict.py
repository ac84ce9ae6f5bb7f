"""Is one mixture better than another? Paired differences with bootstrap intervals.

Pure NumPy, no training code. The inputs are per-document loss sums of final models:
for every mixture, an array (seeds, evaluations, documents) of summed nats over each
held-out document's scored tokens, from models trained with the same seeds and scored
on the same documents (doremi.data.heldout).

Statistics (candidate minus baseline; negative = the candidate's loss is lower):
  - per domain: the domain's loss (its documents' nats / tokens), averaged over seeds;
  - average: the uniform mean of the domains' losses;
  - worst: the highest domain loss;
  - speed-up: the baseline's steps over the steps the candidate needs to reach the
    baseline's final average loss, linearly interpolated between evaluations.

The interval is a two-level percentile bootstrap: each replicate draws seeds with
replacement (the same draw for both mixtures, so the comparison stays paired) and, within
every domain, documents with replacement (the same documents for both mixtures). It
therefore covers both the training noise between seeds and the sampling noise of a finite
held-out set. With a single seed it covers the held-out sampling only, and with few seeds
the seed part of the interval is narrower than it should be (a bootstrap of n values
has the spread of n-1 of them); `compare` says so in its `caveat`.

Verdicts: "better" when the whole interval of the loss difference is below 0, "worse"
when it is above 0, else "no detectable difference"; for the speed-up, "faster" when the
interval is above 1, "slower" below 1.
"""

from __future__ import annotations

import numpy as np

BETTER, WORSE, SAME = "better", "worse", "no detectable difference"


def verdict(interval: tuple[float, float]) -> str:
    low, high = interval
    if high < 0:
        return BETTER
    if low > 0:
        return WORSE
    return SAME


def steps_to_reach(steps: np.ndarray, curve: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per row, the interpolated step at which `curve` first falls to `target`; NaN if never.

    steps: (E,) evaluation steps; curve: (R, E) losses; target: (R,).
    """
    reached = curve <= target[:, None]
    first = reached.argmax(axis=1)
    out = np.full(len(curve), np.nan)
    for r in np.flatnonzero(reached.any(axis=1)):
        j = first[r]
        if j == 0:
            out[r] = steps[0]
            continue
        before, after = curve[r, j - 1], curve[r, j]
        share = (before - target[r]) / (before - after) if before != after else 1.0
        out[r] = steps[j - 1] + share * (steps[j] - steps[j - 1])
    return out


def _domain_losses(
    sums: np.ndarray, doc_domain: np.ndarray, doc_tokens: np.ndarray, doc_draws: list[np.ndarray], seed_draw: np.ndarray
) -> np.ndarray:
    """(R, domains, evaluations) losses averaged over the drawn seeds, for R replicates.

    sums: (S, E, N); doc_draws[d]: (R, n_d) counts of each of domain d's documents;
    seed_draw: (R, S) seed indices.
    """
    per_domain = []
    for d, counts in enumerate(doc_draws):
        mine = np.flatnonzero(doc_domain == d)
        numerator = np.einsum("rn,sen->rse", counts, sums[:, :, mine])  # (R, S, E)
        denominator = counts @ doc_tokens[mine]  # (R,)
        per_domain.append(numerator / denominator[:, None, None])
    losses = np.stack(per_domain, axis=1)  # (R, D, S, E)
    drawn = np.take_along_axis(losses, seed_draw[:, None, :, None], axis=2)
    return drawn.mean(axis=2)


def _statistics(losses: dict[str, np.ndarray], candidate: str, steps: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per baseline, the replicates of every statistic from (R, D, E) domain losses."""
    final = {name: x[:, :, -1] for name, x in losses.items()}
    out = {}
    for name in losses:
        if name == candidate:
            continue
        mine, theirs = losses[candidate], losses[name]
        target = theirs.mean(axis=1)[:, -1]
        reach = steps_to_reach(steps, mine.mean(axis=1), target)
        out[name] = {
            "domains": final[candidate] - final[name],  # (R, D)
            "average": final[candidate].mean(axis=1) - final[name].mean(axis=1),
            "worst": final[candidate].max(axis=1) - final[name].max(axis=1),
            "speedup": np.where(np.isnan(reach), 0.0, steps[-1] / np.maximum(np.nan_to_num(reach, nan=1.0), 1e-9)),
        }
    return out


def compare(
    sums: dict[str, np.ndarray],
    candidate: str,
    doc_domain: np.ndarray,
    doc_tokens: np.ndarray,
    steps: list[int],
    domains: list[str],
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """The candidate mixture against every other mixture in `sums` (see the module docstring)."""
    names = list(sums)
    n_seeds = next(iter(sums.values())).shape[0]
    steps_arr = np.asarray(steps, dtype=np.float64)
    n_by_domain = [int((doc_domain == d).sum()) for d in range(len(domains))]

    def losses_for(doc_draws, seed_draw):
        return {n: _domain_losses(sums[n], doc_domain, doc_tokens, doc_draws, seed_draw) for n in names}

    point = _statistics(
        losses_for([np.ones((1, n)) for n in n_by_domain], np.arange(n_seeds)[None, :]), candidate, steps_arr
    )
    rng = np.random.default_rng(seed)
    doc_draws = [rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64) for n in n_by_domain]
    seed_draw = rng.integers(0, n_seeds, size=(replicates, n_seeds))
    boot = _statistics(losses_for(doc_draws, seed_draw), candidate, steps_arr)
    tail = (1 - level) / 2 * 100

    def interval(values: np.ndarray) -> tuple[float, float]:
        low, high = np.percentile(values, [tail, 100 - tail], axis=0)
        return float(low), float(high)

    out = {}
    for name in point:
        p, b = point[name], boot[name]
        per_domain = {}
        for i, d in enumerate(domains):
            span = interval(b["domains"][:, i])
            per_domain[d] = {"difference": float(p["domains"][0, i]), "interval": span, "verdict": verdict(span)}
        average, worst, speed = interval(b["average"]), interval(b["worst"]), interval(b["speedup"])
        factor = float(p["speedup"][0])
        out[name] = {
            "average": {"difference": float(p["average"][0]), "interval": average, "verdict": verdict(average)},
            "worst": {"difference": float(p["worst"][0]), "interval": worst, "verdict": verdict(worst)},
            "domains": per_domain,
            "domains_better": sum(v["verdict"] == BETTER for v in per_domain.values()),
            "domains_worse": sum(v["verdict"] == WORSE for v in per_domain.values()),
            "speedup": {
                "factor": factor if factor > 0 else None,  # None: the baseline's loss is never reached
                "interval": [s if s > 0 else None for s in speed],
                "verdict": "faster" if speed[0] > 1 else "slower" if speed[1] < 1 else SAME,
            },
        }
    return {
        "method": f"paired two-level bootstrap over seeds and held-out documents, {replicates} replicates",
        "level": level,
        "seeds": n_seeds,
        "caveat": caveat(n_seeds),
        "baselines": out,
    }


def caveat(n_seeds: int) -> str | None:
    if n_seeds == 1:
        return (
            "one seed: the intervals cover held-out sampling only, not training noise; "
            "set final.seeds to 3 or more before trusting a verdict"
        )
    if n_seeds < 5:
        return (
            f"{n_seeds} seeds: the seed part of the intervals is narrower than it should be; 5 or more seeds are safer"
        )
    return None


def spread(per_seed: np.ndarray) -> np.ndarray:
    """Standard deviation over seeds (axis 0); 0 with one seed."""
    return per_seed.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(per_seed.shape[1:])
