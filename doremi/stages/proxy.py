"""stage=proxy: train the proxy with Group DRO against the reference; write the learned mixture."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from doremi.errors import DoremiError
from doremi.lit.callbacks import TrajectoryWriter
from doremi.lit.proxy import ProxyModule
from doremi.lit.train import make_trainer, train_loader
from doremi.mixture import make_mixture, resolve_mixture, write_mixture
from doremi.stages.common import (
    code_version,
    commit,
    load_checkpoint,
    load_prepared,
    model_config,
    say,
    stage_dir,
    start,
)


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    reference = load_checkpoint(stage_dir(cfg, "reference") / "model.pt", data, "stage=reference")
    out = start(cfg, "proxy")
    if out is None:
        return
    k = len(data.domains)
    steps, batch_size = int(cfg.proxy.max_steps), int(cfg.proxy.batch_size)
    if batch_size < k:
        raise DoremiError(
            f"proxy.batch_size={batch_size} is smaller than the {k} domains; every proxy batch must hold "
            f"every domain: set proxy.batch_size >= {k}"
        )
    natural = resolve_mixture("natural", data.domains, data.token_counts("train"), "natural")
    uniform = [1.0 / k] * k
    init = resolve_mixture(str(cfg.dro.init), data.domains, data.token_counts("train"), "dro.init")
    if min(init) <= 0:
        raise DoremiError(f"dro.init={cfg.dro.init}: initial weights must all be > 0 (the update works in log space)")

    pl.seed_everything(int(cfg.seed), verbose=False)
    module = ProxyModule(
        model_config(cfg, data),
        data.domains,
        dict(cfg.optim),
        steps,
        eta=float(cfg.dro.eta),
        smoothing=float(cfg.dro.smoothing),
        init_weights=None if cfg.dro.init == "uniform" else init,
    )
    module.load_reference(reference["state_dict"])
    say(f"[proxy] Group DRO over {k} domains, eta={cfg.dro.eta}, smoothing={cfg.dro.smoothing}, {steps} steps")
    trainer = make_trainer(
        cfg, out.tmp, "proxy", steps, batch_size, callbacks=[TrajectoryWriter(out.tmp / "trajectory.jsonl")]
    )
    # the proxy draws uniform, stratified minibatches (every domain in every batch)
    trainer.fit(module, train_dataloaders=train_loader(data, uniform, batch_size, int(cfg.seed)))

    provenance = {
        "method": "doremi",
        "eta": float(cfg.dro.eta),
        "smoothing": float(cfg.dro.smoothing),
        "steps": int(module.dro_steps),
        "rounds": int(cfg.rounds),
        "seed": int(cfg.seed),
        "init": str(cfg.dro.init),
        "tokenizer": data.tokenizer,
        "data_hash": data.manifest["data_hash"],
        "config": OmegaConf.to_container(cfg, resolve=True),
        "code_version": code_version(),
    }
    if cfg.dro.init != "uniform":
        provenance["init_weights"] = dict(zip(data.domains, init))
    baselines = {"uniform": uniform, "natural": natural, "reference": list(reference["mixture"].values())}
    mixture = make_mixture(data.domains, module.average_weights(), baselines, provenance)
    write_mixture(out.tmp / "mixture.json", mixture)
    commit(out)
    published = Path(cfg.mixtures_dir) / f"{cfg.name}.json"
    write_mixture(published, mixture)  # the same atomic writer as proxy/mixture.json
    say("[proxy] learned mixture: " + ", ".join(f"{d} {w:.3f}" for d, w in mixture["weights"].items()))
    say(f"[proxy] wrote {out.final / 'mixture.json'} and {published}")
