"""Mixtures that need no training: pure functions of the domains' sizes.

- stratified: every domain the same share (what Aioli and others call stratified sampling);
- natural: each domain's share of the training tokens;
- temperature: natural shares to the power 1/τ, renormalized (multilingual pretraining, τ ≈ 3.3);
  τ = 1 is natural, τ → ∞ is stratified;
- unimax (Chung et al., 2023): a budget spread uniformly over the domains, none repeated more than
  `max_epochs` times; what a capped domain cannot take goes to the others, smallest domains first.
"""

from __future__ import annotations

import numpy as np

from doremi.data.mixture import natural, stratified  # noqa: F401  (the mixture format's two reference points)


def temperature(tokens: list[float], tau: float) -> np.ndarray:
    """p_i ∝ n_i^(1/τ), in log space so that large counts and large τ stay finite."""
    logs = np.log(np.asarray(tokens, dtype=np.float64)) / tau
    p = np.exp(logs - logs.max())
    return p / p.sum()


def unimax(tokens: list[float], budget: float, max_epochs: float | None) -> np.ndarray:
    """UniMax's allocation of `budget` tokens; without a cap, or when the cap never binds, stratified.
    When every domain is capped and the caps together hold less than the budget, the caps' shares
    (the budget cannot be met without more repetition; the caller's epoch report says so)."""
    n = np.asarray(tokens, dtype=np.float64)
    if max_epochs is None:
        return stratified(tokens)
    allocation = np.zeros(len(n))
    remaining = float(budget)
    order = np.argsort(n, kind="stable")
    for done, i in enumerate(order):
        share = remaining / (len(n) - done)
        allocation[i] = min(share, max_epochs * n[i])
        remaining -= allocation[i]
    return allocation / allocation.sum()
