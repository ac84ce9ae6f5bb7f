"""From learned weights to the real run's mixture: the feasible mixture closest to the learned one.

The target run has a token budget B and, per domain, the tokens available A_i. A weight w_i
means w_i·B tokens of domain i, that is w_i·B/A_i epochs over it. Constraints: at most
`max_epochs` epochs per domain (so w_i <= max_epochs·A_i/B), weights pinned for some
domains, and minimum and maximum weights.

Closest means the smallest KL divergence KL(w || q) from the learned weights q. Under box
constraints lo_i <= w_i <= hi_i and sum w = 1 its minimizer is w_i = clip(t·q_i, lo_i, hi_i)
for the one t > 0 that makes the weights sum to 1 (the KKT conditions of the convex
problem: log(w_i/q_i) is the same constant for every domain whose box does not bind). So
with no binding constraint w = q; a capped domain gets exactly its cap and the others keep
their learned ratios to each other. KL(w || q) is the divergence the learned mixture's own
update works in (exponentiated gradient, docs/concepts/algorithm.md), and it keeps a domain with q_i = 0 at 0.

The default of 4 epochs follows Muennighoff et al. (2023, "Scaling Data-Constrained Language
Models"): up to about 4 epochs of repeated data were almost as good as unique data, and the
value of more repetition decayed quickly after that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from doremi.config.errors import DoremiError

DEFAULT_MAX_EPOCHS = 4.0


@dataclass
class Plan:
    weights: dict[str, float]
    epochs: dict[str, float]
    binding: dict[str, str]  # domain -> which constraint holds it ("max_epochs", "pinned", "min_weight", "max_weight")
    kl: float  # KL(planned || learned), nats


def bounds(
    domains: list[str],
    available: dict[str, float],
    budget: float,
    max_epochs: float | None,
    pinned: dict[str, float],
    min_weight: float,
    max_weight: float,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(lower, upper, the name of the constraint behind each upper bound)."""
    lo = np.full(len(domains), float(min_weight))
    hi = np.full(len(domains), float(max_weight))
    why = ["max_weight"] * len(domains)
    for i, d in enumerate(domains):
        if max_epochs is not None:
            cap = max_epochs * float(available[d]) / budget
            if cap < hi[i]:
                hi[i], why[i] = cap, "max_epochs"
        if d in pinned:
            lo[i] = hi[i] = float(pinned[d])
            why[i] = "pinned"
    return lo, hi, why


def pinned_weights(pin) -> dict[str, float]:
    """plan.pin ({domain: weight}) checked: every weight a number in [0, 1], one line naming plan.pin otherwise."""
    from omegaconf import DictConfig, OmegaConf

    value = OmegaConf.to_container(pin) if isinstance(pin, DictConfig) else (pin or {})
    out = {}
    for domain, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= float(weight) <= 1:
            raise DoremiError(f"plan.pin: the weight of {domain!r} is {weight!r}; pin a weight between 0 and 1")
        out[str(domain)] = float(weight)
    return out


def plan(
    learned: dict[str, float],
    available: dict[str, float],
    budget: float,
    max_epochs: float | None = DEFAULT_MAX_EPOCHS,
    pinned: dict[str, float] | None = None,
    min_weight: float = 0.0,
    max_weight: float = 1.0,
) -> Plan:
    """The feasible mixture closest in KL to `learned` (see the module text); one error naming the
    constraints when none exists."""
    domains = list(learned)
    pinned = dict(pinned or {})
    unknown = [d for d in pinned if d not in learned] + [d for d in domains if d not in available]
    if unknown:
        raise DoremiError(f"plan: domain {unknown[0]!r} is not in both the mixture and the available tokens")
    q = np.array([learned[d] for d in domains], dtype=np.float64)
    q = q / q.sum()
    lo, hi, why = bounds(domains, available, float(budget), max_epochs, pinned, min_weight, max_weight)
    lo = np.where(q > 0, lo, 0.0)  # a domain the learned mixture leaves out stays out (KL keeps it at 0)
    lo = np.where([d in pinned for d in domains], hi, lo)
    if (lo > hi + 1e-15).any():
        i = int(np.flatnonzero(lo > hi + 1e-15)[0])
        raise DoremiError(
            f"plan: domain {domains[i]!r} needs a weight >= {lo[i]:.6g} but {why[i]} allows at most {hi[i]:.6g}"
        )
    reachable = np.where((q > 0) | (lo > 0), hi, 0.0)
    if reachable.sum() < 1 - 1e-12:
        causes = sorted({w for w, r in zip(why, reachable) if r < 1})
        capped = ", ".join(f"{d} at {h:.4f} ({w})" for d, h, w in zip(domains, reachable, why))
        ways = {
            "max_epochs": "raise plan.max_epochs, lower plan.token_budget or add data",
            "max_weight": f"raise plan.max_weight={max_weight} (it must be at least 1/{len(domains)})",
            "pinned": "pin less",
        }
        raise DoremiError(
            f"plan: the constraints allow at most {reachable.sum():.4f} of the budget ({budget:,.0f} tokens) in all "
            f"({capped}); " + "; or ".join(ways[c] for c in causes if c in ways)
        )
    if lo.sum() > 1 + 1e-12:
        raise DoremiError(
            f"plan: pinned and minimum weights sum to {lo.sum():.4f} > 1; lower plan.pin or plan.min_weight"
        )
    weights, t = fill(q, lo, hi)
    binding = {}
    for i, d in enumerate(domains):
        if d in pinned:
            binding[d] = "pinned"
        elif t * q[i] > hi[i] * (1 + 1e-9):
            binding[d] = why[i]
        elif t * q[i] < lo[i] * (1 - 1e-9):
            binding[d] = "min_weight"
    mask = weights > 0
    kl = float(np.sum(weights[mask] * np.log(weights[mask] / q[mask])))
    epochs = {
        d: float(w) * budget / float(available[d]) if available[d] else math.inf for d, w in zip(domains, weights)
    }
    return Plan(dict(zip(domains, weights.tolist())), epochs, binding, kl)


def fill(q: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    """(clip(t·q, lo, hi), t), with t found by bisection so that the weights sum to 1."""

    def total(t: float) -> float:
        return float(np.clip(t * q, lo, hi).sum())

    low, high = 0.0, 1.0
    while total(high) < 1 and high < 1e300:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) < 1 else (low, mid)
    w = np.clip(high * q, lo, hi)
    free = (w > lo) & (w < hi)
    if free.any():  # the last rounding goes to the domains no constraint holds, so the sum is 1
        w[free] *= (1 - w[~free].sum()) / w[free].sum()
    return w, high


def search_flops(parameters: int, reference_tokens: int, proxy_tokens: int, rounds: int, seeds: int) -> dict:
    """FLOPs of learning a mixture: a reference per round (6·N·D) and a proxy per round and seed (6·N·D for
    its training plus 2·N·D for the reference's forward pass on the same tokens)."""
    reference = rounds * training_flops(parameters, reference_tokens)
    proxy = rounds * seeds * training_flops(parameters, proxy_tokens, forward_only_parameters=parameters)
    return {
        "parameters": parameters,
        "rounds": rounds,
        "proxy_seeds": seeds,
        "reference_flops": reference,
        "proxy_flops": proxy,
        "flops": reference + proxy,
    }


def training_flops(parameters: int, tokens: float, forward_only_parameters: int = 0) -> float:
    """Training FLOPs: 6·N·D for a trained model (forward and backward), plus 2·N'·D for a model
    run forward only on the same tokens (the proxy's reference), as Kaplan et al. (2020) count them."""
    return 6.0 * parameters * tokens + 2.0 * forward_only_parameters * tokens
