"""What every method's `learn` shares: the final run's budget and the mixture file it returns."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from doremi import heuristics
from doremi.mixture import make_mixture


def final_tokens(cfg: DictConfig, data) -> int:
    """Tokens one final model trains on: the budget a mixture is learned for."""
    return int(cfg.final.max_steps) * int(cfg.final.batch_size) * int(data.seq_len)


def mixture_for(ctx, weights, provenance: dict) -> dict:
    """A doremi-mixture/v1 dict of `weights` (in the data's domain order) learned by `ctx.name`."""
    from doremi.stages.common import code_version

    data = ctx.data
    tokens = [float(t) for t in data.token_counts("train")]
    baselines = {"uniform": heuristics.stratified(tokens).tolist(), "natural": heuristics.natural(tokens).tolist()}
    weights = [float(w) for w in weights]
    total = sum(weights)
    return make_mixture(
        data.domains,
        [w / total for w in weights],
        baselines,
        {
            "method": ctx.name,
            **provenance,
            "seed": int(ctx.cfg.seed),
            "tokenizer": data.tokenizer,
            "data_hash": data.manifest["data_hash"],
            "config": OmegaConf.to_container(ctx.cfg, resolve=True),
            "code_version": code_version(),
        },
    )
