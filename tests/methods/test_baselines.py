"""Known answers of the mixtures that need no training, and of what a verdict could have seen."""

import numpy as np
import pytest

from doremi.methods.baselines import rules as heuristics
from doremi.stats.verdict import seeds_to_halve, t_quantile


def test_temperature_one_is_natural_and_large_is_stratified():
    tokens = [1000.0, 10.0, 100.0]
    assert np.allclose(heuristics.temperature(tokens, 1.0), heuristics.natural(tokens))
    assert np.allclose(heuristics.temperature(tokens, 1e6), heuristics.stratified(tokens), atol=1e-5)
    p = heuristics.temperature(tokens, 3.3)  # flattens natural but keeps its order
    assert p[0] > p[2] > p[1] and p[0] < heuristics.natural(tokens)[0]


def test_unimax_caps_small_domains_and_spreads_the_rest():
    tokens = [10.0, 1000.0, 1000.0]
    w = heuristics.unimax(tokens, budget=300.0, max_epochs=2.0)
    # the small domain takes its cap (2 epochs = 20 tokens), the others share the remaining 280
    assert w * 300.0 == pytest.approx([20.0, 140.0, 140.0])
    assert heuristics.unimax(tokens, 300.0, None) == pytest.approx([1 / 3] * 3)
    assert heuristics.unimax(tokens, 30.0, 4.0) == pytest.approx([1 / 3] * 3)  # no cap binds: uniform


def test_seeds_to_halve_follows_the_t_quantile_and_refuses_when_documents_dominate():
    half = t_quantile(2) * 1.0  # 3 seeds, seed standard error 1, no document term
    n = seeds_to_halve(half, 1.0, 0.0, 3)
    assert t_quantile(n - 1) * np.sqrt(3 / n) <= half / 2 < t_quantile(n - 2) * np.sqrt(3 / (n - 1))
    # with 30 seeds the held-out documents' term is most of the interval: more seeds cannot halve it
    assert seeds_to_halve(t_quantile(29) * np.hypot(0.1, 1.0), 0.1, 1.0, 30) is None


def test_seeds_to_halve_keeps_the_documents_quantile():
    from doremi.stats import family

    half = family.half_width(1.0, 2, 0.6, 3)  # 3 seeds; a documents' term from 4 documents (3 df)
    few, known = seeds_to_halve(half, 1.0, 0.6, 3, docs_df=3), seeds_to_halve(half, 1.0, 0.6, 3)
    assert family.half_width(np.sqrt(3 / few), few - 1, 0.6, 3) <= half / 2
    assert few > known  # the documents' wide quantile leaves less room for the seeds' term
