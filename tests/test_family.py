"""doremi.family by simulation against planted truths: per-seed losses of many mixtures trained with the same
seeds (a seed effect shared by every mixture, noise of its own per mixture, unequal as measured: paired
standard deviations 0.007 to 0.068 nats), judged against stratified as stage=compare judges them."""

import numpy as np
import pytest

from doremi import family

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


def test_the_prior_recovers_a_common_variance_and_says_when_variances_differ():
    rng = np.random.default_rng(0)
    same = rng.chisquare(2, 400) / 2 * 0.04**2  # s^2 on 2 df around 0.04^2
    d0, s0 = family.prior(same, 2)
    assert d0 > 8 and s0 == pytest.approx(0.04**2, rel=0.2)
    scattered = rng.chisquare(2, 400) / 2 * rng.choice([0.005, 0.05, 0.2], 400) ** 2
    assert family.prior(scattered, 2)[0] < 5  # little borrowed when the pairs differ


def test_with_every_mixture_equal_the_recommendation_is_stratified_in_95_percent_of_runs():
    rng = np.random.default_rng(1)
    picked = 0
    runs = 2000
    for _ in range(runs):
        diffs = simulate(rng, np.zeros(len(NOISE)), seeds=3)
        picked += recommended(family.intervals(list(diffs))) is not None
    assert picked / runs <= 0.05
    # per-pair 95% intervals (what stage=compare did before) pick a method far more often
    naive = 0
    for _ in range(500):
        diffs = list(simulate(rng, np.zeros(len(NOISE)), 3))
        own = [(float(np.var(d, ddof=1)), 2) for d in diffs]
        naive += recommended(family.intervals(diffs, family=1, pilot=own)) is not None
    assert naive / 500 > 0.1


def stein(rng, truth: np.ndarray, resolution: float, pilot_seeds: int = 3, most: int = 1000):
    """Stein's two stages as stage=compare runs them: a pilot, the seeds each comparison needs, the rest."""
    pilot = simulate(rng, truth, pilot_seeds)
    first = family.intervals(list(pilot))
    needed = [
        family.stein_seeds(np.sqrt(v), df, resolution, pilot_seeds, family=len(truth), most=most)
        for _, _, v, df in first
    ]
    extra = simulate(rng, truth, max(needed) - pilot_seeds) if max(needed) > pilot_seeds else np.zeros((len(truth), 0))
    diffs = [np.concatenate([pilot[i], extra[i, : n - pilot_seeds]]) for i, n in enumerate(needed)]
    return family.intervals(diffs, pilot=[(v, df) for _, _, v, df in first]), needed


def test_stein_reaches_the_resolution_finds_twice_it_and_keeps_coverage():
    rng = np.random.default_rng(2)
    resolution = 0.05  # with these noises, ~60 seeds for the noisiest method
    truth = np.zeros(len(NOISE))
    truth[2] = -2 * resolution  # one method truly better by twice the resolution
    found = covered = 0
    runs = 600
    for _ in range(runs):
        judged, needed = stein(rng, truth, resolution)
        assert max(h for _, h, _, _ in judged) <= resolution + 1e-12
        found += recommended(judged) == 2
        covered += all(abs(c - t) <= h for (c, h, _, _), t in zip(judged, truth))
    assert found / runs >= 0.8
    assert covered / runs >= 0.94  # simultaneous coverage at the stated 95% (Monte Carlo error ~0.01)
