"""One Group DRO run: a proxy trained against a frozen reference, the domain weights averaged.

Used by the proxy stage (domains of a prepared corpus), by learned SFT quotas (sources of
chats) and by the benchmarks. The caller brings the data module (uniform, stratified
batches; or step numbers only with a `resampled` draw), the reference's weights and,
optionally, a reference-loss cache and a starting state for the proxy.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from doremi.config.settings import DroSettings, TrainerSettings
from doremi.data.resample import ResampledBatches
from doremi.methods.doremi.parts import BatchDraw, DomainWeights, ReferenceScorer
from doremi.methods.doremi.proxy import ProxyModule
from doremi.store.runtime import say
from doremi.training.callbacks import TrajectoryWriter
from doremi.training.lm import maybe_compile
from doremi.training.model import build_model
from doremi.training.train import fit


def train_group_dro(
    *,
    model: dict,
    domains: list[str],
    optim: dict,
    steps: int,
    dro: DroSettings,
    run: TrainerSettings,
    datamodule: pl.LightningDataModule,
    reference_state: dict,
    out_dir: Path,
    label: str,
    seed: int,
    init: list[float] | None = None,
    start_state: dict | None = None,
    cache=None,
    resampled: ResampledBatches | None = None,
    callbacks: list[pl.Callback] | None = None,
) -> tuple[ProxyModule, pl.Trainer]:
    """Train a proxy (from `start_state`, else a fresh initialization seeded by `seed`) with Group DRO
    against the reference for `steps` optimizer steps; writes out_dir/trajectory.jsonl.

    init: alpha_0 (None: uniform). cache: a doremi.methods.doremi.cache.ReferenceLosses read instead of the
    reference's forward pass. resampled: dro.sampling=resample's batches (the data module then
    yields step numbers only). callbacks: more Lightning callbacks (the benchmarks' clocks).
    """
    pl.seed_everything(seed, verbose=False)
    proxy = build_model(model)
    reference = build_model(model)  # built after the proxy: the proxy's initialization depends only on seed
    reference.load_state_dict(reference_state)
    if start_state is not None:
        proxy.load_state_dict(start_state)
    maybe_compile(proxy, run.compile, per_layer=run.strategy == "fsdp")
    maybe_compile(reference, run.compile)
    burn_start = int(dro.burn_in * (steps - dro.warm_start))
    module = ProxyModule(
        proxy,
        optim,
        steps,
        DomainWeights(domains, dro, init, burn_start),
        ReferenceScorer(reference, cache),
        BatchDraw(resampled, len(domains)) if resampled is not None else None,
        micro_batches=run.accumulate_grad_batches,
        warm_start=dro.warm_start,
    )
    say(f"[{label}] Group DRO over {len(domains)} domains, eta={dro.eta}, smoothing={dro.smoothing}, {steps} steps")
    out_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [TrajectoryWriter(out_dir / "trajectory.jsonl"), *(callbacks or [])]
    trainer = fit(module, datamodule, run, out_dir, label, steps, callbacks=callbacks)
    found = module.domain_weights.diagnostics()
    if found["skipped_steps"] or any(found["steps_without_domain"].values()):
        say(f"[{label}] diagnostics: {found}")
    return module, trainer
