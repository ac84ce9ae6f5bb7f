"""Batches drawn with changing weights (the proxy's resampling variant)."""

import numpy as np

from doremi.data.resample import ResampledBatches, allocate


def test_allocation_follows_changing_weights_exactly_over_time():
    rng = np.random.default_rng(0)
    k, batch = 5, 16
    owed, total, wanted = np.zeros(k), np.zeros(k, dtype=np.int64), np.zeros(k)
    for _ in range(300):
        weights = rng.dirichlet(np.full(k, 0.5))
        counts, owed = allocate(weights, owed, batch)
        assert counts.sum() == batch
        assert np.all(counts >= np.floor(weights * batch + 1e-9)) and np.all(counts <= np.ceil(weights * batch) + 1)
        total += counts
        wanted += weights * batch
        assert np.abs(total - wanted).max() < 1.0 + 1e-9  # within one sequence of the weights' sum, always
        assert abs(owed.sum()) < 1e-9


def test_small_weights_are_drawn_in_proportion_and_zero_weights_never():
    weights = np.array([0.02, 0.0, 0.98])
    owed, total = np.zeros(3), np.zeros(3, dtype=np.int64)
    for _ in range(100):
        counts, owed = allocate(weights, owed, 10)
        total += counts
    assert total.tolist() == [20, 0, 980]  # 0.2 sequences per batch: every fifth batch


def test_batches_continue_each_domains_order_and_split_over_processes():
    chunks = [np.arange(40).reshape(10, 4) + 100 * d for d in range(3)]  # domain d, chunk c -> rows 100d + 4c..
    draws = ResampledBatches(chunks, [10, 10, 10], batch_size=6, seed=1)
    weights = np.array([0.5, 0.25, 0.25])
    owed, drawn, seen = np.zeros(3), np.zeros(3, dtype=np.int64), []
    for step, expected in enumerate([[3, 2, 1], [3, 1, 2], [3, 2, 1]]):  # the half sequences alternate
        whole, counts, owed_next, drawn_next = draws.batch(step, weights, owed, drawn)
        parts = [draws.batch(step, weights, owed, drawn, rank=r, world=2)[0] for r in range(2)]
        owed, drawn = owed_next, drawn_next
        assert np.bincount(whole["domain"].numpy(), minlength=3).tolist() == counts.tolist() == expected
        assert sorted(np.concatenate([p["chunk"].numpy() * 3 + p["domain"].numpy() for p in parts])) == sorted(
            whole["chunk"].numpy() * 3 + whole["domain"].numpy()
        )
        assert all(int(p["step"]) == step for p in parts)
        rows = whole["input"][:, 0].numpy()
        assert np.array_equal(rows, 100 * whole["domain"].numpy() + 4 * whole["chunk"].numpy())
        seen += [(int(d), int(c)) for d, c in zip(whole["domain"], whole["chunk"])]
    assert len(seen) == len(set(seen))  # no chunk twice within a pass over its domain
    assert drawn.tolist() == [9, 5, 4]  # 18 sequences: 9, 4.5, 4.5 (the extra one went to the lower index)
