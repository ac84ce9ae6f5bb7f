"""The sampler's stated guarantees: exact proportions, determinism, disjoint processes."""

import numpy as np
import pytest

from doremi.config.errors import DoremiError
from doremi.data.sampler import MixtureSampler


def random_weights(rng, k, zeros=0):
    w = rng.dirichlet(np.ones(k) * 0.5)
    w[:zeros] = 0
    return w / w.sum()


@pytest.mark.parametrize("seed", range(6))
def test_per_batch_and_cumulative_counts_within_one(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    weights = random_weights(rng, k, zeros=int(seed % 3 == 0))
    batch = int(rng.integers(1, 40))
    sampler = MixtureSampler([50] * k, weights.tolist(), batch, seed)
    total = np.zeros(k)
    for step in range(300):
        domains, _ = sampler.batch(step)
        counts = np.bincount(domains, minlength=k)
        assert counts.sum() == batch
        assert (np.abs(counts - weights * batch) < 1 + 1e-9).all()
        total += counts
        assert (np.abs(total - weights * batch * (step + 1)) < 1 + 1e-9).all()
    assert (total[weights == 0] == 0).all()  # a zero-weight domain is never drawn


def test_uniform_batches_hold_every_domain():
    sampler = MixtureSampler([10, 20, 30, 40, 5], [0.2] * 5, 7, seed=1)
    for step in range(50):
        assert set(sampler.batch(step)[0].tolist()) == set(range(5))


def test_chunks_drawn_without_replacement_within_a_pass_and_passes_counted():
    # two sequences per domain per batch: domain 0 (14 chunks) finishes a pass every 7
    # batches, domain 1 (8 chunks) every 4
    sampler = MixtureSampler([14, 8], [0.5, 0.5], 4, seed=3)
    seen = {0: [], 1: []}
    for step in range(28):
        domains, chunks = sampler.batch(step)
        for d, c in zip(domains, chunks):
            seen[int(d)].append(int(c))
    for domain, n in ((0, 14), (1, 8)):
        passes = [sorted(seen[domain][i : i + n]) for i in range(0, len(seen[domain]), n)]
        assert all(p == list(range(n)) for p in passes), f"domain {domain} repeated a chunk within a pass"
    np.testing.assert_allclose(sampler.passes(), [56 / 14, 56 / 8])
    # each pass has its own order
    assert seen[1][:8] != seen[1][8:16] or seen[1][8:16] != seen[1][16:24]


def test_draws_are_a_pure_function_of_seed_and_step():
    weights = [0.1, 0.6, 0.3]
    straight = MixtureSampler([9, 30, 11], weights, 10, seed=5)
    sequential = [straight.batch(step) for step in range(40)]
    resumed = MixtureSampler([9, 30, 11], weights, 10, seed=5)
    for step in [25, 26, 3, 39, 0]:  # out of order, as a resumed run would ask
        d, c = resumed.batch(step)
        np.testing.assert_array_equal(d, sequential[step][0])
        np.testing.assert_array_equal(c, sequential[step][1])
    other_seed = MixtureSampler([9, 30, 11], weights, 10, seed=6)
    assert any(not np.array_equal(other_seed.batch(s)[1], sequential[s][1]) for s in range(5))


def test_processes_draw_disjoint_shares_of_the_global_batch():
    weights = [0.25, 0.25, 0.5]
    global_sampler = MixtureSampler([100, 100, 100], weights, 12, seed=0)
    ranks = [MixtureSampler([100, 100, 100], weights, 12, seed=0) for _ in range(3)]
    for step in range(10):
        gd, gc = global_sampler.batch(step)
        parts = [r.batch(step, rank=i, world=3) for i, r in enumerate(ranks)]
        pairs = sorted((int(d), int(c)) for p in parts for d, c in zip(*p))
        assert pairs == sorted(zip(gd.tolist(), gc.tolist()))
        assert all(len(p[0]) == 4 for p in parts)


def test_bad_weights_are_refused():
    with pytest.raises(DoremiError, match="sum to 1"):
        MixtureSampler([5, 5], [0.5, 0.6], 4, 0)
    with pytest.raises(DoremiError, match="no chunks"):
        MixtureSampler([5, 0], [0.5, 0.5], 4, 0)
