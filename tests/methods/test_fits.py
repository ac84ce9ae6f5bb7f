"""Known answers of the swarm fits: a mixing law recovers the law that made the losses; RegMix's search
finds the mixture a known regression favours; both stay inside the plan's box."""

import numpy as np
import pytest

from doremi.methods import mixing_law, regmix
from doremi.methods.swarm import fits
from doremi.methods.swarm.runs import sample_mixture


def law_losses(X, c, k, t):
    return np.stack([c[i] + k[i] * np.exp(X @ t[i]) for i in range(len(c))], axis=1)


def test_mixing_law_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(3), size=60)
    c, k = np.array([1.5, 2.0, 2.5]), np.array([1.0, 0.7, 1.2])
    t = np.array([[-2.0, 0.3, 0.1], [0.2, -1.5, 0.0], [-0.5, -0.5, -1.0]])
    L = law_losses(X, c, k, t) + rng.normal(0, 1e-4, size=(60, 3))
    law = mixing_law.MixingLaw(ridge=0.0).fit(X, L)
    got = law.described(["a", "b", "c"])
    for i, d in enumerate("abc"):
        # exp(t·r) with sum r = 1 cannot tell c, k and a shift of t apart: compare the predicted losses and
        # the differences t_ij - t_ij' that the law identifies
        assert np.ptp([got[d]["t"][e] - t[i][j] for j, e in enumerate("abc")]) < 0.05
    fresh = rng.dirichlet(np.ones(3), size=20)
    assert np.abs(law.predict_domains(fresh) - law_losses(fresh, c, k, t)).max() < 5e-3
    # the minimum of the average over the simplex is where the known law has it
    best = mixing_law.minimize_law(law.predict, np.full(3, 1 / 3), np.zeros(3), np.ones(3), seed=0)
    grid = rng.dirichlet(np.ones(3), size=20000)
    truth = grid[np.argmin(law_losses(grid, c, k, t).mean(axis=1))]
    assert np.abs(best - truth).max() < 0.05


def test_regmix_search_moves_weight_to_what_lowers_the_target_and_respects_the_box():
    rng = np.random.default_rng(1)
    X = np.stack([sample_mixture(np.full(4, 0.25), i, 0, [0.3, 1.0, 3.0]) for i in range(200)])
    y = 3.0 - 1.2 * X[:, 1] + 0.4 * X[:, 3] + rng.normal(0, 0.01, size=200)  # domain 1 helps, domain 3 hurts
    model = regmix.regression(0, 200).fit(X, y)
    predicted = fits.cross_validated(lambda: regmix.regression(0, 160), X, y, 5, 0)
    assert fits.quality(y, predicted)["spearman"] > 0.9
    lo, hi = np.zeros(4), np.array([1.0, 0.5, 1.0, 1.0])
    best = regmix.best_of_samples(model.predict, np.full(4, 0.25), lo, hi, seed=0)
    assert best[1] == max(best) and best[1] <= 0.5 + 1e-9 and best[3] == min(best)
    assert best.sum() == pytest.approx(1.0)


def test_swarm_draws_depend_on_seed_and_index_only():
    prior = np.array([0.7, 0.2, 0.1])
    a = [sample_mixture(prior, i, 3, [0.3, 3.0]) for i in range(6)]
    b = [sample_mixture(prior, i, 3, [0.3, 3.0]) for i in range(4)]  # a smaller swarm: the same first runs
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], sample_mixture(prior, 0, 4, [0.3, 3.0]))
    assert all(abs(x.sum() - 1) < 1e-12 and x.min() > 0 for x in a)
