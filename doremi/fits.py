"""Models of "loss as a function of the mixture", fitted on a swarm, and their optima.

- RegMix (Liu et al., 2024): gradient-boosted trees (LightGBM) regress the target loss on the
  weights; the optimum is the mean of the top-`top` of many sampled mixtures by predicted loss.
- Data Mixing Laws (Ye et al., 2024): per domain i, L_i(r) = c_i + k_i·exp(Σ_j t_ij·r_j), fitted by
  nonlinear least squares (scipy.optimize.least_squares); the optimum minimizes the target over
  the constrained simplex (scipy.optimize.minimize, SLSQP, from several starts).

Both honour box constraints lo <= w <= hi (doremi.plan.bounds: epoch caps, pinned, min and max
weights) and report their quality on held-out runs by k-fold over runs: Spearman's rank
correlation and the mean absolute error of the predicted target loss.

scikit-learn, LightGBM and SciPy are the `swarm` extra: `pip install "doremi-mix[swarm]"`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from doremi.errors import DoremiError


def need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DoremiError(
            f'this method needs {module.split(".")[0]}: pip install "doremi-mix[swarm]" (scikit-learn, LightGBM, SciPy)'
        ) from None


def regression(seed: int, runs: int):
    """RegMix's regressor, sized for small swarms (RegMix fitted 512 runs; a leaf here needs only a few)."""
    lgb = need("lightgbm")
    return lgb.LGBMRegressor(
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=7,
        min_child_samples=max(2, min(20, runs // 8)),
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=1.0,
        random_state=seed,
        verbose=-1,
    )


def quality(y: np.ndarray, predicted: np.ndarray) -> dict:
    stats = need("scipy.stats")
    rho = stats.spearmanr(y, predicted).statistic if len(y) > 2 else float("nan")
    return {"spearman": float(rho), "mae": float(np.mean(np.abs(y - predicted))), "runs": int(len(y))}


def decision_agreement(small: np.ndarray, large: np.ndarray) -> float:
    """The share of pairs ranked the same way at both sizes (DataDecide's decision accuracy, Magnusson et al.,
    2025): for every pair i < j, whether sign(small_i - small_j) equals sign(large_i - large_j)."""
    pairs = [(i, j) for i in range(len(small)) for j in range(i + 1, len(small))]
    if not pairs:
        return float("nan")
    same = [np.sign(small[i] - small[j]) == np.sign(large[i] - large[j]) for i, j in pairs]
    return float(np.mean(same))


def cross_validated(make: Callable[[], object], X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each run's prediction by a model fitted without it (k-fold over runs)."""
    model_selection = need("sklearn.model_selection")
    splitter = model_selection.KFold(max(2, min(folds, len(y))), shuffle=True, random_state=seed)
    predicted = np.zeros(len(X))
    for train, test in splitter.split(X):
        predicted[test] = make().fit(X[train], y[train]).predict(X[test])
    return predicted


T_BOUND = 20.0  # |t_ij| at most this: exp(t·r) spans e^20 over the simplex, more than any loss curve needs


class MixingLaw:
    """Per-domain L_i(r) = c_i + k_i·exp(t_i·r), fitted by least squares on every domain's loss; `predict`
    gives the target loss (fit and predict as a regression does, so both cross-validate the same way)."""

    def __init__(self, kind: str = "average", indices: list[int] | None = None, ridge: float = 1e-3):
        self.kind, self.indices, self.ridge = kind, indices, ridge
        self.params: list[np.ndarray] = []

    def fit(self, X: np.ndarray, L: np.ndarray) -> MixingLaw:
        """Fit every domain's law on the (runs, domains) losses `L`."""
        optimize = need("scipy.optimize")
        k = X.shape[1]
        self.params = []
        for i in range(L.shape[1]):
            y = L[:, i]

            def residual(p, y=y):  # a small ridge on t keeps a fit on few runs from extrapolating wildly
                fitted = p[0] + np.exp(p[1]) * np.exp(X @ p[2:])
                return np.concatenate([fitted - y, np.sqrt(self.ridge) * p[2:]])

            start = np.concatenate([[y.min() * 0.9, np.log(max(y.max() - y.min(), 1e-3))], np.zeros(k)])
            low = np.concatenate([[0.0, -20.0], np.full(k, -T_BOUND)])
            high = np.concatenate([[max(y.max(), 1e-3) * 2, 5.0], np.full(k, T_BOUND)])
            fit = optimize.least_squares(
                residual, np.clip(start, low + 1e-9, high - 1e-9), bounds=(low, high), max_nfev=5000
            )
            self.params.append(fit.x)
        return self

    def predict_domains(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        return np.stack([p[0] + np.exp(p[1]) * np.exp(X @ p[2:]) for p in self.params], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        from doremi.swarm import target_values

        return target_values(self.predict_domains(X), self.kind, self.indices)

    def described(self, domains: list[str]) -> dict:
        return {
            d: {"c": float(p[0]), "k": float(np.exp(p[1])), "t": dict(zip(domains, map(float, p[2:])))}
            for d, p in zip(domains, self.params)
        }


def candidates(prior: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Mixtures to search over: Dirichlet draws around the prior at several spreads, kept within the box."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    spreads = rng.choice([0.1, 0.3, 1.0, 3.0, 10.0], size=count)
    draws = np.stack([rng.dirichlet(np.maximum(s * k * prior, 1e-3)) for s in spreads])
    inside = ((draws >= lo - 1e-12) & (draws <= hi + 1e-12)).all(axis=1)
    return draws[inside]


def kl_from(weights: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """KL(w || prior) in nats, row by row (0 log 0 = 0)."""
    w = np.atleast_2d(weights)
    safe = np.where(w > 0, w, 1.0)
    return np.sum(np.where(w > 0, w * np.log(safe / np.maximum(prior, 1e-300)), 0.0), axis=1)


def regularized(predict, prior: np.ndarray, kl_reg: float):
    """The search's objective: the predicted target plus kl_reg x KL(w || prior), which keeps a fit's optimum
    near the prior where the fit knows little (Olmix's exact proposer: kl_reg 0.1 in its DCLM configuration)."""
    if kl_reg <= 0:
        return predict
    return lambda w: predict(w) + kl_reg * kl_from(w, prior)


def best_of_samples(predict, prior, lo, hi, seed: int, count: int = 50_000, top: int = 100, kl_reg: float = 0.0) -> np.ndarray:  # fmt: skip
    """RegMix's search: the mean of the `top` sampled mixtures with the lowest predicted target (plus kl_reg x
    their KL from the prior)."""
    pool = candidates(prior, lo, hi, count, seed)
    if len(pool) == 0:
        return np.clip(prior, lo, hi)
    predicted = regularized(predict, prior, kl_reg)(pool)
    best = pool[np.argsort(predicted)[: min(top, len(pool))]].mean(axis=0)
    return best / best.sum()


def minimize_law(predict, prior, lo, hi, seed: int, starts: int = 8, kl_reg: float = 0.0) -> np.ndarray:
    """The fitted law's minimum (plus kl_reg x KL from the prior) over {lo <= w <= hi, sum w = 1}, best of several
    SLSQP starts."""
    optimize = need("scipy.optimize")
    predict = regularized(predict, prior, kl_reg)
    rng = np.random.default_rng(seed)
    k = len(prior)
    points = [np.clip(prior, lo, hi)] + [np.clip(rng.dirichlet(np.ones(k)), lo, hi) for _ in range(starts - 1)]
    best, best_value = None, np.inf
    for x0 in points:
        result = optimize.minimize(
            lambda w: float(predict(w[None, :])[0]),
            x0 / x0.sum(),
            method="SLSQP",
            bounds=list(zip(lo, hi)),
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        )
        if result.fun < best_value:
            best, best_value = result.x, result.fun
    best = np.clip(best, lo, hi)
    return best / best.sum()
