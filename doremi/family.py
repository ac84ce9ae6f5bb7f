"""Statistics for many methods and few seeds: pure functions, each with its assumptions, tested by simulation
(tests/test_family.py) against planted truths.

- `moderate`: empirical-Bayes moderated variances (Smyth, 2004, limma). Each of m comparisons has a sample
  variance s_i^2 of its per-seed paired differences on d = seeds - 1 degrees of freedom. Assuming the true
  variances are drawn from a scaled inverse chi-square prior (d0, s0^2), estimated from all m of them by
  moments of log s^2, each posterior variance is (d0 s0^2 + d s_i^2) / (d0 + d) on d0 + d degrees of
  freedom: a pair borrows strength from the run without being assumed equal to the others (d0 is small
  when the variances differ a lot). Needs m >= 3 comparisons with d >= 1; otherwise nothing is moderated.
  The prior counts at most as much as the pair's own seeds (d0 <= d): with the few comparisons of one run
  (m ~ 5-10) d0 is poorly estimated, and uncapped it is often infinite (every pair pooled). Measured by
  simulation with the unequal noise of real runs (paired standard deviations 0.007-0.068 nats, 8 methods,
  3 seeds): simultaneous coverage 88% uncapped, 94.8% capped, against 95% stated (tests/test_family.py).
- `quantile`: Student's t quantile of a two-sided interval at `level`, adjusted for a family of m
  comparisons (Sidak: each at 1 - (1 - level)^(1/m)), so that all m intervals hold together with
  probability >= level for independent comparisons, and about that for comparisons against one shared
  baseline (positively correlated, where Sidak is conservative). The family is what the recommendation
  picks from: with nine methods judged at 95% each, one equal to the baseline "wins" somewhere far more
  often than 5% of the time.
- `stein_seeds`: Stein's two-stage rule (1945): after n0 pilot seeds with variance s^2 on df degrees of
  freedom, n = max(n0, ceil((q s / h)^2)) seeds give an interval of half-width at most h for the mean of
  all n, with exact coverage when the interval uses the pilot's s and df (the mean of all n is
  independent of the pilot's variance under normality).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (Smyth's Newton iteration, limma's trigammaInverse)."""
    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = float(special.polygamma(1, x))
        step = tri * (1 - tri / y) / float(special.polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def prior(variances: np.ndarray, df: float) -> tuple[float, float]:
    """(d0, s0^2) of the scaled inverse chi-square prior fitted to sample variances on `df` degrees of freedom
    (Smyth, 2004, section 6.2); d0 = inf when the variances scatter no more than sampling alone explains.
    Zero variances (identical models) are left out."""
    s2 = np.asarray(variances, dtype=np.float64)
    s2 = s2[s2 > 1e-300]
    if len(s2) < 3 or df < 1:
        return 0.0, float(np.mean(s2)) if len(s2) else 0.0
    z = np.log(s2)
    e = z - special.digamma(df / 2) + math.log(df / 2)
    mean = float(e.mean())
    excess = float(np.var(e, ddof=1)) - float(special.polygamma(1, df / 2))
    if excess <= 0:
        return math.inf, float(math.exp(mean))
    d0 = 2 * _trigamma_inverse(excess)
    return d0, float(math.exp(mean + special.digamma(d0 / 2) - math.log(d0 / 2)))


def moderate(variance: float, df: float, fitted: tuple[float, float], df_cap: float) -> tuple[float, float]:
    """(posterior variance, its degrees of freedom) of one comparison under the fitted prior; the degrees of
    freedom are capped at the run's total (limma's df.total), what pooling every comparison would give."""
    d0, s0 = fitted
    if d0 <= 0 or variance <= 0:
        return float(variance), float(df)
    d0 = min(d0, df)  # the run's other comparisons count at most as much as this pair's own seeds
    return (d0 * s0 + df * variance) / (d0 + df), float(min(d0 + df, df_cap))


def quantile(df: float, level: float = 0.95, family: int = 1) -> float:
    """The two-sided t quantile at `level` for each of `family` comparisons (Sidak); the normal one for df = 0."""
    alpha = 1 - (level ** (1 / max(int(family), 1)))
    if df < 1:
        return float(stats.norm.ppf(1 - alpha / 2))
    return float(stats.t.ppf(1 - alpha / 2, df))


def stein_seeds(sd: float, df: float, half_width: float, n0: int, level: float = 0.95, family: int = 1,
                docs_se: float = 0.0, most: int | None = None) -> int | None:  # fmt: skip
    """Seeds that bring a paired comparison's interval to `half_width` (Stein's two-stage rule, with the
    held-out documents' standard error `docs_se` added in quadrature); None when the documents alone are
    wider than that (more held-out documents are needed, not seeds) or `most` seeds would not do."""
    q = quantile(df, level, family)
    room = (half_width / q) ** 2 - docs_se**2
    if room <= 0:
        return None
    n = max(int(n0), math.ceil(sd**2 / room - 1e-12))
    return None if most is not None and n > most else n


def intervals(diffs: list[np.ndarray], level: float = 0.95, family: int | None = None,
              pilot: list[tuple[float, float]] | None = None) -> list[tuple[float, float, float, float]]:  # fmt: skip
    """(centre, half-width, variance used, df) of each comparison's mean paired difference, from its per-seed
    differences: variances moderated over all of them, quantiles widened for the family (default: all of
    them). With `pilot` ((variance, df) per comparison, from a first stage), those are used instead of the
    seeds' own (Stein's second stage: the centre is the mean of every seed). The path of doremi.verdict
    without the held-out documents' term, for simulations."""
    m = len(diffs)
    family = m if family is None else family
    if pilot is None:
        n0 = len(diffs[0])
        variances = np.array([float(np.var(d, ddof=1)) for d in diffs])
        fitted = prior(variances, n0 - 1)
        pilot = [moderate(v, n0 - 1, fitted, (n0 - 1) * m) for v in variances]
    out = []
    for d, (variance, df) in zip(diffs, pilot):
        half = quantile(df, level, family) * math.sqrt(variance / len(d))
        out.append((float(np.mean(d)), half, variance, df))
    return out
