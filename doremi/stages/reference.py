"""stage=reference: train the reference model on the reference mixture."""

from __future__ import annotations

from omegaconf import DictConfig

from doremi.data.mixture import resolve_mixture
from doremi.pipeline.common import commit, load_prepared, say, start
from doremi.training.fitting import fit_lm, save_lm, trained


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    out = start(cfg, "reference")
    if out is None:
        return
    weights = resolve_mixture(str(cfg.reference.mixture), data.domains, data.token_counts("train"), "reference.mixture")
    say(
        f"[reference] training on the {cfg.reference.mixture} mixture: "
        + ", ".join(f"{d} {w:.3f}" for d, w in zip(data.domains, weights))
    )
    module = fit_lm(cfg, data, weights, cfg.reference, out.tmp, "reference")
    save_lm(out.tmp / "model.pt", trained(module), cfg, data, weights)
    commit(out)
