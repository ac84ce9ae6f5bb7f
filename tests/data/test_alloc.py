"""One largest-remainder allocator: its guarantees, and the sampler, resampler and exports agreeing with it."""

import numpy as np

from doremi.data.alloc import largest_remainder, whole_shares
from doremi.data.resample import allocate
from doremi.data.sampler import MixtureSampler
from doremi.outputs.export.formats import exact_counts, exact_decimals


def test_counts_sum_to_the_total_and_running_totals_stay_within_one():
    rng = np.random.default_rng(0)
    owed, running, exact_sum = np.zeros(5), np.zeros(5), np.zeros(5)
    for _ in range(300):
        w = rng.dirichlet(np.ones(5))
        counts, owed = largest_remainder(w * 16, 16, owed)
        assert counts.sum() == 16
        running += counts
        exact_sum += w * 16
        assert np.abs(running - exact_sum).max() < 1 + 1e-9


def test_a_zero_share_never_gets_a_unit():
    rng = np.random.default_rng(2)
    owed = None
    for _ in range(100):
        w = rng.dirichlet(np.ones(4))
        w[1] = 0
        counts, owed = largest_remainder(w / w.sum() * 5, 5, owed)
        assert counts[1] == 0 and counts.sum() == 5


def test_ties_go_to_the_lower_index():
    counts, _ = largest_remainder(np.array([1 / 3, 1 / 3, 1 / 3]) * 4, 4)
    assert counts.tolist() == [2, 1, 1]


def test_the_sampler_allocates_with_it():
    weights = [0.45, 0.3, 0.2, 0.05]
    sampler = MixtureSampler([100, 100, 100, 100], weights, 7, seed=0)
    owed = None
    for step in range(50):
        expected, owed = largest_remainder(np.array(weights) * 7, 7, owed)
        domains, _ = sampler.batch(step)
        assert np.bincount(domains, minlength=4).tolist() == expected.tolist()


def test_the_resampler_allocates_with_it():
    rng = np.random.default_rng(1)
    owed_a = owed_b = np.zeros(3)
    for _ in range(40):
        w = rng.dirichlet(np.ones(3))
        counts_a, owed_a = allocate(w, owed_a, 9)
        counts_b, owed_b = largest_remainder(w * 9, 9, owed_b)
        assert counts_a.tolist() == counts_b.tolist()


def test_exports_and_quotas_use_it():
    weights = {"a": 0.123456789, "b": 0.5, "c": 0.376543211}
    assert exact_counts(weights, 1000) == whole_shares(weights, 1000)
    decimals = exact_decimals(weights, 4)
    assert {d: int(v.replace("0.", "")) for d, v in decimals.items()} == whole_shares(weights, 10_000)
    assert sum(int(v.replace("0.", "")) for v in decimals.values()) == 10_000
