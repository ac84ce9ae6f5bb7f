"""What every model of "loss as a function of the mixture" fitted on a swarm shares: its optional
libraries, its k-fold quality on held-out runs and the KL penalty of its search.

Every fitted method honours box constraints lo <= w <= hi (doremi.outputs.plan.bounds: epoch caps, pinned, min and max
weights) and report their quality on held-out runs by k-fold over runs: Spearman's rank
correlation and the mean absolute error of the predicted target loss.

scikit-learn, LightGBM and SciPy are the `swarm` extra: `pip install "doremi-mix[swarm]"`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from doremi.config.errors import DoremiError


def need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DoremiError(
            f'this method needs {module.split(".")[0]}: pip install "doremi-mix[swarm]" (scikit-learn, LightGBM, SciPy)'
        ) from None


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
