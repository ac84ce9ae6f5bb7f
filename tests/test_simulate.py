"""The compare's statistical promises, measured on the path that makes the recommendation (doremi.stats.simulate drives
doremi.stats.decide.judging and recommend with per-document losses over shared seeds and shared held-out documents).
The full table, 1,000 runs a cell, is bench/bench_verdicts.py's; these cells are its hardest and its smallest."""

import numpy as np
import pytest

from doremi.stats import decide, family, simulate

UNEQUAL = [0.007, 0.01, 0.068]  # paired seed noise measured on two corpora (nats/token)


def rates(scenario: simulate.Scenario, runs: int, seed: int) -> tuple[float, float, float]:
    """(simultaneous coverage and false-recommendation rate with every mixture equal, median half-width)."""
    rng = np.random.default_rng(seed)
    results = [simulate.one_run(scenario, rng) for _ in range(runs)]
    covered = np.mean([r["covered"] for r in results])
    false = np.mean([r["recommended"] != "stratified" for r in results])
    return float(covered), float(false), float(np.median([r["half_width"] for r in results]))


def power(scenario: simulate.Scenario, shift: float, runs: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    planted = simulate.Scenario(**{**scenario.__dict__, "truths": [shift] + list(scenario.truths[1:])})
    return float(np.mean([simulate.one_run(planted, rng)["recommended"] == "m0" for _ in range(runs)]))


def test_three_methods_with_unequal_noise_hold_their_intervals_rarely_recommend_and_find_twice_the_width():
    """200 runs: the Monte Carlo standard error of a 95% coverage is 1.5 points (the bench's 1,000 runs: 0.7; it
    measured 98.2% here, so a run of 200 falls below 95% with probability under 1%)."""
    scenario = simulate.Scenario(truths=[0.0] * 3, seed_sd=UNEQUAL)
    covered, false, half = rates(scenario, 200, seed=3)
    assert covered >= 0.95 and false <= 0.05, (covered, false)
    assert power(scenario, -2 * half, 150, seed=13) >= 0.8


@pytest.mark.slow
def test_nine_methods_with_unequal_noise_keep_coverage_and_the_false_rate():
    """The cell where moderated variances failed (92.8% coverage): nine methods, noise differing tenfold."""
    scenario = simulate.Scenario(truths=[0.0] * 9, seed_sd=[UNEQUAL[i % 3] for i in range(9)])
    covered, false, half = rates(scenario, 200, seed=9)
    assert covered >= 0.95 and false <= 0.05, (covered, false)
    assert power(simulate.Scenario(**{**scenario.__dict__, "seed_sd": [0.01] + scenario.seed_sd[1:]}), -2 * half, 120, seed=19) >= 0.8  # fmt: skip


def test_stein_reaches_the_resolution_and_a_method_limited_by_documents_keeps_its_pilot_seeds():
    """compare.resolution=0.02: methods whose documents alone are wider get no extra seed (named so); the others
    reach the resolution and their second-stage intervals hold the truth."""
    rng = np.random.default_rng(3)
    wide_docs = simulate.Scenario(truths=[0.0, 0.0], seed_sd=[0.01, 0.01], docs=3, domains=2, doc_sd=0.4)
    for _ in range(10):
        out = simulate.stein_run(wide_docs, rng, 0.02, most=16)
        limited = [v for v in out.values() if v["limited_by_documents"]]
        assert limited and all(v["seeds"] == 3 for v in limited)
    reachable = simulate.Scenario(truths=[0.0, -0.04, 0.0], seed_sd=[0.01, 0.02, 0.03], doc_sd=0.01)
    reached = covered = total = 0
    for _ in range(40):
        out = simulate.stein_run(reachable, rng, 0.02, most=64)
        for v in out.values():
            if not (v["limited_by_documents"] or v["out"] or v["unreachable"]):
                total += 1
                reached += v["half_width"] <= 0.02 + 1e-12
                covered += v["covered"]
    assert total > 80 and reached == total and covered / total >= 0.95


def test_holm_rejects_in_order_and_the_p_value_inverts_the_interval():
    assert family.holm({"a": 0.001, "b": 0.02, "c": 0.03}, 0.05) == ["a", "b", "c"]
    assert family.holm({"a": 0.001, "b": 0.03, "c": 0.04}, 0.05) == ["a"]  # 0.03 > 0.05 / 2 stops it
    # the p-value is the alpha at which the one-sided bound touches 0
    p = family.one_sided_p(-0.05, 0.01, 2, 0.005, 40)
    bound = -0.05 + family.half_width(0.01, 2, 0.005, 40, level=1 - 2 * p)
    assert abs(bound) < 1e-6 and family.one_sided_p(0.01, 0.01, 2, 0.005, 40) == 1.0


def test_natural_is_offered_only_where_it_ties_stratified():
    def row(name, verdict):
        judged = {"difference": 0.1, "interval": (0.05, 0.15), "verdict": verdict, "half_width": 0.05,
                  "noise": {"se_seeds": 0.01, "df": 2, "se_documents": 0.0, "df_documents": 0}}  # fmt: skip
        return {"method": name, "vs": {"stratified": {"average": judged}}, "cost": {"flops": 0.0}, "notes": {}}

    worse = decide.recommend([row("natural", "worse"), row("m0", "worse")], "average")
    alike = decide.recommend([row("natural", "no detectable difference"), row("m0", "worse")], "average")
    assert worse["method"] == alike["method"] == "stratified"
    assert "(or natural" not in worse["line"] and "(or natural, which ties it)" in alike["line"]
