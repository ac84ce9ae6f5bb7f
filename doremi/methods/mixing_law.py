"""Data Mixing Laws (Ye et al., 2024): per-domain L_i(r) = c_i + k_i·exp(Σ_j t_ij·r_j) fitted on the swarm by
least squares, then the target minimized over the constrained simplex. For your own target (target.paths,
learn.target=external) one law is fitted to the target's loss itself, as Ye et al. fit a validation set's loss."""

from __future__ import annotations

import numpy as np

from doremi.methods.base import LearnContext, Method
from doremi.methods.common import mixture_for
from doremi.methods.swarm import fits
from doremi.methods.swarm.fitted import SETTINGS, fit_quality, scale_of, swarm_of
from doremi.methods.swarm.settings import SECTION

T_BOUND = 20.0  # |t_ij| at most this: exp(t·r) spans e^20 over the simplex, more than any loss curve needs


class MixingLaw:
    """Per-domain L_i(r) = c_i + k_i·exp(t_i·r), fitted by least squares on every domain's loss; `predict`
    gives the target loss (fit and predict as a regression does, so both cross-validate the same way)."""

    def __init__(self, kind: str = "average", indices: list[int] | None = None, ridge: float = 1e-3):
        self.kind, self.indices, self.ridge = kind, indices, ridge
        self.params: list[np.ndarray] = []

    def fit(self, X: np.ndarray, L: np.ndarray) -> MixingLaw:
        """Fit every domain's law on the (runs, domains) losses `L`."""
        optimize = fits.need("scipy.optimize")
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
        from doremi.methods.swarm.runs import target_values

        if self.kind == "external":  # one law, fitted to the target's loss
            return self.predict_domains(X)[:, 0]
        return target_values(self.predict_domains(X), self.kind, self.indices)

    def described(self, domains: list[str], laws: list[str] | None = None) -> dict:
        """Each law's constants, named by `laws` (default: the domains), its t by the mixture's domains."""
        return {
            d: {"c": float(p[0]), "k": float(np.exp(p[1])), "t": dict(zip(domains, map(float, p[2:])))}
            for d, p in zip(laws or domains, self.params)
        }


def minimize_law(predict, prior, lo, hi, seed: int, starts: int = 8, kl_reg: float = 0.0) -> np.ndarray:
    """The fitted law's minimum (plus kl_reg x KL from the prior) over {lo <= w <= hi, sum w = 1}, best of several
    SLSQP starts."""
    optimize = fits.need("scipy.optimize")
    predict = fits.regularized(predict, prior, kl_reg)
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


def learn(ctx: LearnContext) -> dict:
    swarm = swarm_of(ctx)
    seed = int(ctx.cfg.swarm.seed)

    make = lambda: MixingLaw(swarm.kind, swarm.indices)  # noqa: E731
    # fitted on every domain's loss (y is the (runs, domains) table), judged on the target it predicts
    losses = swarm.target[:, None] if swarm.kind == "external" else swarm.losses
    predicted = fits.cross_validated(make, swarm.weights, losses, int(ctx.cfg.swarm.folds), seed)
    law = make().fit(swarm.weights, losses)
    weights = minimize_law(law.predict, swarm.prior, swarm.lo, swarm.hi, seed, kl_reg=float(ctx.cfg.swarm.kl_reg))
    fit = fit_quality(ctx, swarm, predicted)
    extra = scale_of(ctx, swarm, weights)
    fit["kl_from_prior"] = float(fits.kl_from(weights, swarm.prior)[0])
    fit["predicted_target_of_mixture"] = float(law.predict(weights[None, :])[0])
    laws = ["target"] if swarm.kind == "external" else None
    return mixture_for(
        ctx, weights, {**swarm.provenance, **extra, "fit": fit, "law": law.described(ctx.data.domains, laws)}
    )


METHOD = Method(
    "mixing_law",
    "per-domain exponential laws of the mixture fitted over a swarm of small runs (Ye et al., 2024)",
    learn,
    settings=SETTINGS,
    sections=(SECTION,),
)
