"""RegMix (Liu et al., 2024): a LightGBM regression of the target loss on the swarm's mixtures; the
mixture is the mean of the 100 sampled mixtures it predicts best (within the plan's constraints)."""

from __future__ import annotations

import numpy as np

from doremi.methods.base import LearnContext, Method
from doremi.methods.common import mixture_for
from doremi.methods.swarm import fits
from doremi.methods.swarm.fitted import SETTINGS, fit_quality, scale_of, swarm_of
from doremi.methods.swarm.settings import SECTION


def regression(seed: int, runs: int):
    """RegMix's regressor, sized for small swarms (RegMix fitted 512 runs; a leaf here needs only a few)."""
    lgb = fits.need("lightgbm")
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


def candidates(prior: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Mixtures to search over: Dirichlet draws around the prior at several spreads, kept within the box."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    spreads = rng.choice([0.1, 0.3, 1.0, 3.0, 10.0], size=count)
    draws = np.stack([rng.dirichlet(np.maximum(s * k * prior, 1e-3)) for s in spreads])
    inside = ((draws >= lo - 1e-12) & (draws <= hi + 1e-12)).all(axis=1)
    return draws[inside]


def best_of_samples(
    predict, prior, lo, hi, seed: int, count: int = 50_000, top: int = 100, kl_reg: float = 0.0
) -> np.ndarray:
    """RegMix's search: the mean of the `top` sampled mixtures with the lowest predicted target (plus kl_reg x
    their KL from the prior)."""
    pool = candidates(prior, lo, hi, count, seed)
    if len(pool) == 0:
        return np.clip(prior, lo, hi)
    predicted = fits.regularized(predict, prior, kl_reg)(pool)
    best = pool[np.argsort(predicted)[: min(top, len(pool))]].mean(axis=0)
    return best / best.sum()


def learn(ctx: LearnContext) -> dict:
    swarm = swarm_of(ctx)
    seed, runs = int(ctx.cfg.swarm.seed), len(swarm.target)
    predicted = fits.cross_validated(
        lambda: regression(seed, runs), swarm.weights, swarm.target, int(ctx.cfg.swarm.folds), seed
    )
    model = regression(seed, runs).fit(swarm.weights, swarm.target)
    weights = best_of_samples(model.predict, swarm.prior, swarm.lo, swarm.hi, seed, kl_reg=float(ctx.cfg.swarm.kl_reg))
    fit = fit_quality(ctx, swarm, predicted)
    extra = scale_of(ctx, swarm, weights)
    fit["kl_from_prior"] = float(fits.kl_from(weights, swarm.prior)[0])
    fit["predicted_target_of_mixture"] = float(model.predict(weights[None, :])[0])
    return mixture_for(ctx, weights, {**swarm.provenance, **extra, "fit": fit, "model": "lightgbm"})


METHOD = Method(
    "regmix",
    "a LightGBM regression of the target loss over a swarm of small runs (Liu et al., 2024)",
    learn,
    settings=SETTINGS,
    sections=(SECTION,),
)
