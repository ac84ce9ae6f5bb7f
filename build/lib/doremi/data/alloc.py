"""Largest-remainder allocation: whole units in proportion to real numbers, exactly.

Every place that turns shares into whole things uses this one function: the sampler's
sequences per batch, the resampling draw, SFT quotas, and the exports' decimal strings
and example counts. Each entry gets the floor of its exact amount or one more; the units
left over go to the entries owed most (their remainder plus what earlier calls left them
owed), ties to the lower index; an entry whose exact amount is 0 never gets one. Carrying
`owed` from one call to the next keeps running totals within one unit of the exact sum.
"""

from __future__ import annotations

import numpy as np


def largest_remainder(exact: np.ndarray, total: int, owed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(integer counts summing to `total`, what each entry is owed after them).

    `exact` sums to `total` (up to rounding); `owed` (default zeros) is the previous call's second result.
    """
    exact = np.asarray(exact, dtype=np.float64)
    base = np.floor(exact + 1e-9).astype(np.int64)
    due = np.clip(exact - base, 0.0, None) + (0.0 if owed is None else np.asarray(owed, dtype=np.float64))
    due[exact == 0] = -np.inf
    extra = np.zeros_like(base)
    order = np.lexsort((np.arange(len(due)), -due))
    extra[order[: max(int(total) - int(base.sum()), 0)]] = 1
    return base + extra, np.where(exact == 0, 0.0, due - extra)


def whole_shares(weights: dict[str, float], total: int) -> dict[str, int]:
    """{name: whole units} summing to `total`, in proportion to `weights` (normalized here)."""
    names = list(weights)
    values = np.array([float(weights[n]) for n in names], dtype=np.float64)
    counts, _ = largest_remainder(values / values.sum() * total, total)
    return dict(zip(names, counts.tolist()))
