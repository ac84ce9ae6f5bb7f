"""Data Mixing Laws (Ye et al., 2024): per-domain L_i(r) = c_i + k_i·exp(Σ_j t_ij·r_j) fitted on the swarm by
least squares, then the target minimized over the constrained simplex."""

from __future__ import annotations

from doremi.stages.methods.base import LearnContext, Method
from doremi.stages.methods.common import mixture_for
from doremi.stages.methods.fitted import SETTINGS, fit_quality, scale_of, swarm_of


def learn(ctx: LearnContext) -> dict:
    from doremi import fits

    swarm = swarm_of(ctx)
    seed = int(ctx.cfg.swarm.seed)

    make = lambda: fits.MixingLaw(swarm.kind, swarm.indices)  # noqa: E731
    # fitted on every domain's loss (y is the (runs, domains) table), judged on the target it predicts
    predicted = fits.cross_validated(make, swarm.weights, swarm.losses, int(ctx.cfg.swarm.folds), seed)
    law = make().fit(swarm.weights, swarm.losses)
    weights = fits.minimize_law(law.predict, swarm.prior, swarm.lo, swarm.hi, seed, kl_reg=float(ctx.cfg.swarm.kl_reg))
    fit = fit_quality(ctx, swarm, predicted)
    extra = scale_of(ctx, swarm, weights)
    fit["kl_from_prior"] = float(fits.kl_from(weights, swarm.prior)[0])
    fit["predicted_target_of_mixture"] = float(law.predict(weights[None, :])[0])
    return mixture_for(ctx, weights, {**swarm.provenance, **extra, "fit": fit, "law": law.described(ctx.data.domains)})


METHOD = Method(
    "mixing_law",
    "per-domain exponential laws of the mixture fitted over a swarm of small runs (Ye et al., 2024)",
    learn,
    settings=SETTINGS,
)
