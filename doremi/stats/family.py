"""Statistics for many methods and few seeds: pure functions, each with its assumptions, tested by simulation
(tests/stats/test_family.py) against planted truths.

- Each comparison keeps its own seed variance. Empirical-Bayes moderation (Smyth, 2004, limma), which earlier
  releases applied, failed its promise where it was measured on the compare's own path (doremi.compare.simulate: 92.8%
  and 94.0% simultaneous coverage for 9 and 5 methods with the unequal noise of real runs, 95% stated).
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
- `satterthwaite`: the degrees of freedom of a sum of independent variance estimates, each on its own
  degrees of freedom (Welch, 1947; Satterthwaite, 1946): sum(v)^2 / sum(v^2 / df); the held-out documents'
  term of an average over domains (a domain's n documents give n - 1) gets its df so (`documents_term`).
- `half_width`: seeds' and documents' terms, each widened by its own quantile.
- `one_sided_p` and `holm`: the recommendation's decision, one-sided against the control, Holm's step-down over
  the family (doremi.stats.decide.decision).
"""

from __future__ import annotations

import functools
import math

from scipy import stats


@functools.lru_cache(maxsize=65536)  # a pure function asked the same few quantiles thousands of times per compare
def quantile(df: float, level: float = 0.95, family: int = 1) -> float:
    """The two-sided t quantile at `level` for each of `family` comparisons (Sidak); the normal one for df = 0
    (no estimated variance) or infinite df."""
    alpha = 1 - (level ** (1 / max(int(family), 1)))
    if df < 1 or math.isinf(df):
        return float(stats.norm.ppf(1 - alpha / 2))
    return float(stats.t.ppf(1 - alpha / 2, df))


def satterthwaite(parts: list[tuple[float, float]]) -> float:
    """Degrees of freedom of the sum of the variances in `parts` ((variance, its df) each, df may be inf); parts
    with no variance or no degrees of freedom (one document, one seed) add nothing; 0 when nothing is left."""
    kept = [(v, df) for v, df in parts if v > 0 and df > 0]
    if not kept:
        return 0.0
    spread = sum(v * v / df for v, df in kept if not math.isinf(df))
    return math.inf if spread == 0 else sum(v for v, _ in kept) ** 2 / spread


def documents_term(parts: list[tuple[float, int, float]]) -> tuple[float, float]:
    """(variance, df) of the held-out documents' term of a weighted sum of domain losses, from each domain's
    (bootstrap variance of its loss, its documents, the domain's weight): a bootstrap over n documents gives
    (n - 1) / n of the unbiased variance of their mean, so each is scaled by n / (n - 1) and counts n - 1 degrees
    of freedom (`satterthwaite`); a domain with one document has no estimate and adds nothing."""
    scaled = [(w * w * v * n / (n - 1), n - 1) for v, n, w in parts if n > 1 and w != 0]
    return sum(v for v, _ in scaled), satterthwaite(scaled)


def half_width(
    se_seeds: float, df_seeds: float, se_docs: float, df_docs: float, level: float = 0.95, family: int = 1
) -> float:
    """An interval's half-width from the seeds' and the documents' standard errors, each widened by the quantile at
    its own degrees of freedom: sqrt((q(df_seeds) se_seeds)^2 + (q(df_docs) se_docs)^2). Whichever term dominates
    gets its own t quantile (3 seeds: 4.3; documents: n - 1 per domain), so a documents' term estimated from
    hundreds of documents is not widened by 3 seeds' quantile. Measured by simulation (tests/stats/test_family.py): at
    least 95% coverage where each domain has 7 or more held-out documents, about 60% of the width of one quantile
    at the seeds' df; a single Welch-Satterthwaite df for both terms covered 93% where seeds dominate."""
    return math.hypot(quantile(df_seeds, level, family) * se_seeds, quantile(df_docs, level, family) * se_docs)


def documents_limit(half_width: float, docs_se: float, docs_df: float, level: float = 0.95, family: int = 1) -> bool:
    """Whether the held-out documents' term alone is at least `half_width`: no number of seeds can reach it."""
    return (quantile(docs_df, level, family) * docs_se) >= half_width


def stein_seeds(
    sd: float,
    df: float,
    half_width: float,
    n0: int,
    level: float = 0.95,
    family: int = 1,
    docs_se: float = 0.0,
    docs_df: float = math.inf,
    most: int | None = None,
) -> int | None:
    """Seeds that bring a paired comparison's interval to `half_width` (Stein's two-stage rule, with the
    held-out documents' standard error `docs_se` on `docs_df` degrees of freedom added as `half_width` adds it);
    None when the documents alone are wider than that (more held-out documents are needed, not seeds) or `most`
    seeds would not do."""
    room = half_width**2 - (quantile(docs_df, level, family) * docs_se) ** 2
    if room <= 0:
        return None
    n = max(int(n0), math.ceil((quantile(df, level, family) * sd) ** 2 / room - 1e-12))
    return None if most is not None and n > most else n


def one_sided_p(difference: float, se_seeds: float, df_seeds: float, se_docs: float, df_docs: float) -> float:
    """The one-sided p-value of "the candidate's loss is lower" that `half_width`'s interval implies: the smallest
    alpha at which the upper bound difference + sqrt((t_s(1-alpha) se_seeds)^2 + (t_d(1-alpha) se_docs)^2) lies
    below 0 (each term at its own degrees of freedom, as the intervals are built). 1 where the difference is not
    negative. Assumes, as the intervals do, normal seed and document terms, independent of each other."""
    if difference >= 0:
        return 1.0
    from scipy.optimize import brentq

    def bound(alpha: float) -> float:
        tail = lambda df: float(stats.norm.isf(alpha)) if df < 1 or math.isinf(df) else float(stats.t.isf(alpha, df))  # noqa: E731
        return difference + math.hypot(tail(df_seeds) * se_seeds, tail(df_docs) * se_docs)

    if bound(0.5) >= 0:
        return 0.5
    if bound(1e-12) < 0:
        return 1e-12
    return float(brentq(bound, 1e-12, 0.5, xtol=1e-12))


def holm(p_values: dict[str, float], alpha: float = 0.05) -> list[str]:
    """Holm's step-down procedure (1979): the hypotheses rejected at family-wise error `alpha` under any dependence
    between the tests, smallest p first, each compared with alpha / (the number not yet rejected)."""
    rejected = []
    for k, (name, p) in enumerate(sorted(p_values.items(), key=lambda x: x[1])):
        if p > alpha / (len(p_values) - k):
            break
        rejected.append(name)
    return rejected
