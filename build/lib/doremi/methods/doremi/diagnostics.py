"""When learned weights should not be trusted: three checks, each a pure function that
returns a warning (naming the domain and the remedy) or None.

- weak reference: on some domain the reference's held-out loss is barely below the
  domain's unigram entropy (the loss of a model that knows only token frequencies), so
  the reference learned little there and excess losses against it are mostly noise;
- warm-up transient: the average weights owe much of their distance from uniform to the
  first steps of the proxy, when the proxy is far behind the reference and the weights
  swing hard;
- seeds disagree: proxy runs with different seeds (`proxy.seeds`) learned weights further
  apart (L1) than a set distance.
"""

from __future__ import annotations

import numpy as np

EARLY_FRACTION = 0.1  # "the first steps": this fraction of the averaged steps


def unigram_entropy(tokens: np.ndarray, vocab_size: int) -> float:
    """Entropy (nats/token) of the token frequencies: the loss of the best model that ignores context."""
    counts = np.bincount(np.asarray(tokens).reshape(-1).astype(np.int64), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def weak_reference(reference_loss: dict[str, float], entropy: dict[str, float], min_gain: float) -> str | None:
    """Domains where the reference's loss is within `min_gain` (a fraction) of the unigram entropy."""
    gains = {d: 1 - reference_loss[d] / entropy[d] for d in reference_loss if entropy.get(d, 0) > 0}
    weak = sorted((g, d) for d, g in gains.items() if g < min_gain)
    if not weak:
        return None
    names = ", ".join(f"'{d}' ({reference_loss[d]:.3f} vs {entropy[d]:.3f} nats/token)" for _, d in weak)
    return (
        f"the reference learned little on {names}: its held-out loss is within {min_gain:.0%} of the unigram "
        "entropy, so excess losses there are mostly noise. Remedy: train the reference longer "
        "(reference.max_steps) or larger (model=...), then rerun stage=proxy"
    )


def transient_share(weights: np.ndarray, fraction: float = EARLY_FRACTION) -> tuple[float, int]:
    """Share of the averaged weights' L1 distance from uniform that the first `fraction` of steps makes.

    weights: (steps, k) alpha_t of the averaged steps. The average's offset from uniform is
    split into the first steps' part and the rest's; the share is |first|_1 / (|first|_1 + |rest|_1).
    A steady trajectory gives about `fraction`. Also returns the domain whose first-steps part is largest.
    """
    steps, k = weights.shape
    early = max(1, int(np.ceil(fraction * steps)))
    offset = weights - 1.0 / k
    first = offset[:early].sum(axis=0) / steps
    rest = offset[early:].sum(axis=0) / steps
    total = np.abs(first).sum() + np.abs(rest).sum()
    share = float(np.abs(first).sum() / total) if total > 0 else 0.0
    return share, int(np.abs(first).argmax())


def transient_warning(weights: np.ndarray, domains: list[str], limit: float) -> str | None:
    share, domain = transient_share(weights)
    if share <= limit:
        return None
    first = weights[: max(1, int(np.ceil(EARLY_FRACTION * len(weights))))]
    later = weights[len(first) :] if len(weights) > len(first) else first
    return (
        f"the first {EARLY_FRACTION:.0%} of proxy steps make {share:.0%} of the weights' distance from uniform "
        f"(more than {limit:.0%}); '{domains[domain]}' averages {first[:, domain].mean():.3f} there and "
        f"{later[:, domain].mean():.3f} afterwards. The average keeps the proxy's warm-up transient. Remedy: "
        "dro.burn_in=0.1 (average after a burn-in), dro.warm_start=<steps> (start the proxy from a briefly "
        "trained model), or more proxy.max_steps"
    )


def seed_disagreement(per_seed: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest L1 distance between two seeds' weights, and each domain's standard deviation over seeds."""
    if len(per_seed) < 2:
        return 0.0, np.zeros(per_seed.shape[1])
    distances = np.abs(per_seed[:, None, :] - per_seed[None, :, :]).sum(axis=2)
    return float(distances.max()), per_seed.std(axis=0, ddof=1)


def seeds_warning(per_seed: np.ndarray, domains: list[str], limit: float) -> str | None:
    distance, spread = seed_disagreement(per_seed)
    if distance <= limit:
        return None
    worst = int(spread.argmax())
    return (
        f"proxy runs with different seeds disagree: their weights are up to {distance:.3f} apart in L1 "
        f"(more than {limit}); '{domains[worst]}' varies most (standard deviation {spread[worst]:.3f}). "
        "Remedy: more proxy.max_steps, a larger proxy.batch_size, a smaller dro.eta, or more proxy.seeds "
        "(their mean is published)"
    )
