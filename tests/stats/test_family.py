"""doremi.stats.family by simulation against planted truths: an interval's two terms each at its own quantile,
Welch-Satterthwaite, Stein's rule with the documents' term. The compare's whole decision path (intervals,
family, recommendation, Stein's second stage) is simulated in tests/compare/test_simulate.py."""

import numpy as np
import pytest

from doremi.stats import family

NOISE = np.array([0.007, 0.012, 0.02, 0.03, 0.04, 0.05, 0.068, 0.025])  # per method; stratified's own is 0.01


def simulate(rng, truth: np.ndarray, seeds: int, noise=NOISE):
    """Per-seed paired differences against stratified, method by method: (len(truth), seeds)."""
    shared = rng.normal(0, 0.05, seeds)  # the seed's effect on every mixture: cancels in a paired difference
    stratified = shared + rng.normal(0, 0.01, seeds)
    losses = truth[:, None] + shared + rng.normal(0, 1, (len(truth), seeds)) * noise[:, None]
    return losses - stratified


def recommended(judged) -> int | None:
    """The method with the most negative upper bound among those whose interval lies below 0 (or None)."""
    winners = [(c + h, i) for i, (c, h, _, _) in enumerate(judged) if c + h < 0]
    return min(winners)[1] if winners else None


def documents_interval(rng, docs: list[int], doc_sd: list[float], seed_sd: float, seeds: int, rule: str = "own",
                       family_size: int = 1):  # fmt: skip
    """One simulated comparison of an average over domains whose true difference is 0: each domain's held-out
    documents differ by N(0, doc_sd) each, each seed by N(0, seed_sd); (centre, half-width) as verdict.compare
    computes them from a bootstrap over documents ((n - 1) / n of the unbiased variance of their mean). Rules:
    "own" (each term at its own df), "known" (the documents' term as if known: no correction, normal quantile),
    "seeds" (one quantile at the seeds' df for both: the rule before)."""
    centre, parts = 0.0, []
    for n, sd in zip(docs, doc_sd):
        x = rng.normal(0, sd, n)
        centre += x.mean() / len(docs)
        parts.append((float(np.var(x)) / n, n, 1 / len(docs)))
    per_seed = rng.normal(0, seed_sd, seeds)
    centre += per_seed.mean()
    se_seeds = np.sqrt(np.var(per_seed, ddof=1) / seeds)
    if rule == "own":
        docs_var, docs_df = family.documents_term(parts)
        return centre, family.half_width(se_seeds, seeds - 1, np.sqrt(docs_var), docs_df, family=family_size)
    docs_var = sum(w * w * v for v, _, w in parts)
    return centre, family.half_width(se_seeds, seeds - 1, np.sqrt(docs_var), np.inf if rule == "known" else seeds - 1)


@pytest.mark.parametrize(
    "docs, doc_sd, seed_sd",
    [
        ([8, 8, 30, 30], [0.12, 0.04, 0.04, 0.04], 0.004),  # documents dominate, two domains with 8
        ([9, 12, 14, 21, 86], [0.05] * 5, 0.005),  # the demo's held-out documents
        ([40, 40, 40], [0.02] * 3, 0.02),  # seeds dominate
    ],
)
def test_each_term_at_its_own_df_keeps_coverage_and_narrows_what_documents_dominate(docs, doc_sd, seed_sd):
    rng = np.random.default_rng(3)
    runs = 3000
    own = [documents_interval(rng, docs, doc_sd, seed_sd, 3) for _ in range(runs)]
    before = [documents_interval(rng, docs, doc_sd, seed_sd, 3, "seeds") for _ in range(runs)]
    assert np.mean([abs(c) <= h for c, h in own]) >= 0.945
    if seed_sd < 0.01:  # where documents dominate: narrower than one quantile at 3 seeds' df
        assert np.median([h for _, h in own]) < 0.75 * np.median([h for _, h in before])
    if docs[0] == 8:  # 8 documents' variance is not known: treated as known, it covers less than it says
        known = [documents_interval(rng, docs, doc_sd, seed_sd, 3, "known") for _ in range(runs)]
        assert np.mean([abs(c) <= h for c, h in known]) < 0.94


def test_satterthwaite_and_stein_with_the_documents_term():
    assert family.satterthwaite([(1.0, 2), (1.0, np.inf)]) == pytest.approx(8.0)  # (1 + 1)^2 / (1/2)
    assert family.satterthwaite([(1.0, 2), (0.0, 5)]) == 2
    assert family.satterthwaite([]) == 0.0
    sd, df, h = 0.01, 2, 0.02
    for docs_se, docs_df in ((0.004, 1), (0.004, 30), (0.004, np.inf)):
        n = family.stein_seeds(sd, df, h, 3, family=6, docs_se=docs_se, docs_df=docs_df, most=500)
        if family.quantile(docs_df, family=6) * docs_se >= h:
            assert n is None
            continue
        half = [family.half_width(sd / np.sqrt(k), df, docs_se, docs_df, family=6) for k in (n - 1, n)]
        assert half[1] <= h + 1e-12 and (n == 3 or half[0] > h)
    # few documents cost more seeds than many: their quantile
    assert family.stein_seeds(sd, df, 0.015, 3, docs_se=0.004, docs_df=3) > family.stein_seeds(
        sd, df, 0.015, 3, docs_se=0.004, docs_df=300
    )
