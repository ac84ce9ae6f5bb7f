"""RegMix (Liu et al., 2024): a LightGBM regression of the target loss on the swarm's mixtures; the
mixture is the mean of the 100 sampled mixtures it predicts best (within the plan's constraints)."""

from __future__ import annotations

from doremi.stages.methods.base import LearnContext, Method
from doremi.stages.methods.common import mixture_for
from doremi.stages.methods.fitted import SETTINGS, fit_quality, scale_of, swarm_of


def learn(ctx: LearnContext) -> dict:
    from doremi import fits

    swarm = swarm_of(ctx)
    seed, runs = int(ctx.cfg.swarm.seed), len(swarm.target)
    predicted = fits.cross_validated(
        lambda: fits.regression(seed, runs), swarm.weights, swarm.target, int(ctx.cfg.swarm.folds), seed
    )
    model = fits.regression(seed, runs).fit(swarm.weights, swarm.target)
    weights = fits.best_of_samples(
        model.predict, swarm.prior, swarm.lo, swarm.hi, seed, kl_reg=float(ctx.cfg.swarm.kl_reg)
    )
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
)
