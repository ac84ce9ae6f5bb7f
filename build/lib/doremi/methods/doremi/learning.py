"""DoReMi's learning, for stage=proxy's recipe: one proxy run with Group DRO against a reference
(`train_proxy`), a round of one run per seed and its averaged mixture with the trust checks
(`learn_round`), the settings it refuses, its provenance and its cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from doremi.config import settings
from doremi.config.errors import DoremiError
from doremi.config.settings import DroSettings, OptimSettings, TrainerSettings
from doremi.data import units
from doremi.data.heldout import heldout_for, spread_rows
from doremi.data.loaders import MixtureDataModule
from doremi.data.mixture import make_mixture, resolve_mixture, write_mixture
from doremi.data.packing import PackedData
from doremi.data.resample import ResampledBatches
from doremi.data.sampler import MixtureSampler
from doremi.data.tokenizer import load_saved
from doremi.methods.doremi import diagnostics
from doremi.methods.doremi.cache import build_reference_losses
from doremi.methods.doremi.group_dro import train_group_dro
from doremi.methods.doremi.proxy import ProxyModule
from doremi.outputs.plan import search_flops
from doremi.store.files import no_links, read_json, read_jsonl
from doremi.store.runtime import code_version, is_main_process, say
from doremi.training.fitting import save_hf_beside, trained
from doremi.training.lm import heldout_losses
from doremi.training.model import build_model, count_params, model_config
from doremi.training.train import device_for

ENTROPY_ROWS = 4096  # training sequences per domain sampled for its unigram entropy


def train_proxy(
    cfg: DictConfig,
    data: PackedData,
    reference: dict,
    out_dir: Path,
    label: str,
    init,
    round_index: int = 1,
    seed: int | None = None,
) -> tuple[ProxyModule, int]:
    """One DoReMi run against `reference` (seeded by `seed`, default the run's): the trained module and
    the number of processes it ran on."""
    k = len(data.domains)
    steps, batch_size = int(cfg.proxy.max_steps), int(cfg.proxy.batch_size)
    seed = int(cfg.seed if seed is None else seed)
    run, dro = settings.of(cfg, TrainerSettings), settings.of(cfg, DroSettings)
    model = model_config(cfg, data)
    uniform = [1.0 / k] * k
    cache = None
    if cfg.proxy.reference_cache:
        scorer = build_model(model)
        scorer.load_state_dict(reference["state_dict"])
        scorer.to(device_for(run))
        sampler = MixtureSampler(data.chunk_counts("train"), uniform, batch_size, seed)
        cache_name = f"round-{round_index}" if seed == int(cfg.seed) else f"round-{round_index}-seed-{seed}"
        directory = no_links(Path(cfg.run_dir) / "reference_losses" / cache_name, cfg.run_dir)
        cache = build_reference_losses(scorer, data, sampler, steps, directory, main=is_main_process())
    resampled = None
    if dro.sampling == "resample":
        chunks = [data.chunks("train", d) for d in data.domains]
        resampled = ResampledBatches(chunks, data.chunk_counts("train"), batch_size, seed)
    # reweighting: uniform, stratified minibatches (every domain in every batch);
    # resampling: the module draws each batch with the current weights
    batches = MixtureDataModule(
        data, uniform, batch_size, seed, micro_batches=run.accumulate_grad_batches, steps_only=resampled is not None
    )
    module, trainer = train_group_dro(
        model=model,
        domains=data.domains,
        optim=settings.of(cfg, OptimSettings).as_dict(),
        steps=steps,
        dro=dro,
        run=run,
        datamodule=batches,
        reference_state=reference["state_dict"],
        out_dir=out_dir,
        label=label,
        seed=seed,
        init=None if dro.init == "uniform" else init,
        cache=cache,
        resampled=resampled,
    )
    return module, trainer.world_size


def check_settings(cfg: DictConfig, data: PackedData) -> list[float]:
    k = len(data.domains)
    batch_size = int(cfg.proxy.batch_size)  # its bounds and the rules below between keys: the schema's (Proxy)
    if batch_size < k:
        raise DoremiError(
            f"proxy.batch_size={batch_size} is smaller than the {k} domains; every proxy batch must hold "
            f"every domain: set proxy.batch_size >= {k}"
        )
    init = resolve_mixture(str(cfg.dro.init), data.domains, data.token_counts("train"), "dro.init")
    if min(init) <= 0:
        raise DoremiError(f"dro.init={cfg.dro.init}: initial weights must all be > 0 (the update works in log space)")
    return init


def provenance_of(
    cfg: DictConfig, data: PackedData, module: ProxyModule, processes: int, round_index: int, seed: int, init
) -> dict:
    provenance = {
        "method": "doremi",
        "eta": float(cfg.dro.eta),
        "smoothing": float(cfg.dro.smoothing),
        "steps": int(module.domain_weights.steps),
        "rounds": round_index,
        "seed": seed,
        "init": str(cfg.dro.init),
        "tokenizer": data.tokenizer,
        "data_hash": data.manifest["data_hash"],
        "config": OmegaConf.to_container(cfg, resolve=True),
        "code_version": code_version(),
        "normalize": str(cfg.dro.normalize),
        "clip": str(cfg.dro.clip),
        "sampling": str(cfg.dro.sampling),
        "burn_in": float(cfg.dro.burn_in),
        "warm_start": int(cfg.dro.warm_start),
        "averaged_steps": module.domain_weights.averaged_steps(),
        "processes": processes,
        "accumulate_grad_batches": int(cfg.trainer.accumulate_grad_batches),
        **module.domain_weights.diagnostics(),
    }
    if cfg.dro.init != "uniform":
        provenance["init_weights"] = dict(zip(data.domains, init))
    return provenance


def trust_warnings(cfg: DictConfig, data: PackedData, reference: dict, runs: list[dict], per_seed: np.ndarray) -> dict:
    """The checks of doremi.methods.doremi.diagnostics on this round: their figures and the warnings they raise."""
    domains = data.domains
    model = build_model(model_config(cfg, data))
    model.load_state_dict(reference["state_dict"])
    model.to(device_for(settings.of(cfg, TrainerSettings)))
    reference_loss = heldout_losses(model, heldout_for(cfg, data))
    vocab = int(data.tokenizer["vocab_size"])
    entropy = {}
    for d in domains:
        chunks = data.chunks("train", d)
        entropy[d] = diagnostics.unigram_entropy(np.asarray(chunks[spread_rows(len(chunks), ENTROPY_ROWS)]), vocab)
    shares = [diagnostics.transient_share(run["averaged"])[0] for run in runs]
    distance, spread = diagnostics.seed_disagreement(per_seed)
    warn = cfg.warn
    found = [
        diagnostics.weak_reference(reference_loss, entropy, float(warn.reference_gain)),
        *(diagnostics.transient_warning(run["averaged"], domains, float(warn.transient_share)) for run in runs[:1]),
        diagnostics.seeds_warning(per_seed, domains, float(warn.seeds_l1)),
    ]
    return {
        "reference_heldout_loss": reference_loss,
        "unigram_entropy": entropy,
        "transient_share": shares,
        "seeds_l1": distance,
        "seed_spread": dict(zip(domains, spread.tolist())),
        "warnings": [w for w in found if w],
    }


def bytes_per_token(data: PackedData) -> dict[str, float]:
    """UTF-8 bytes per token of each domain's training text under the run's tokenizer (doremi.data.units):
    what turns the learned token shares into byte shares and into another tokenizer's token shares."""
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    return {
        d: units.measured_bytes_per_token(*units.sample_texts(data.chunks("train", d), tokenizer)) for d in data.domains
    }


def learn_round(cfg, data, reference, round_dir: Path, label: str, init, r: int, seeds: list[int], baselines) -> dict:
    """The proxy runs of one round (one per seed) and their mean as the round's mixture."""
    runs = []
    for seed in seeds:
        seed_dir = round_dir if len(seeds) == 1 else round_dir / f"seed-{seed}"
        if len(seeds) > 1 and (seed_dir / "mixture.json").exists():  # finished before an interruption
            mixture = read_json(seed_dir / "mixture.json", "")
        else:
            seed_label = label if len(seeds) == 1 else f"{label}:seed-{seed}"
            module, processes = train_proxy(cfg, data, reference, seed_dir, seed_label, init, r, seed)
            save_hf_beside(cfg, trained(module), seed_dir / "hf", data)
            mixture = make_mixture(
                data.domains,
                module.domain_weights.average(),
                baselines,
                provenance_of(cfg, data, module, processes, r, seed, init),
            )
            if is_main_process() and len(seeds) > 1:
                write_mixture(seed_dir / "mixture.json", mixture)
        steps = read_jsonl(seed_dir / "trajectory.jsonl") if is_main_process() else []
        start_at = int(mixture["provenance"]["steps"]) - int(mixture["provenance"]["averaged_steps"])
        averaged = np.array([[s["weights"][d] for d in data.domains] for s in steps if s["step"] > start_at])
        runs.append({"mixture": mixture, "averaged": averaged})
    per_seed = np.array([[run["mixture"]["weights"][d] for d in data.domains] for run in runs])
    provenance = dict(runs[0]["mixture"]["provenance"])
    if len(seeds) > 1:
        mean = per_seed.mean(axis=0)
        mean = mean / mean.sum()
        provenance.update(
            seed=seeds[0], seeds=seeds, seed_weights={str(s): run["mixture"]["weights"] for s, run in zip(seeds, runs)}
        )
    else:
        mean = per_seed[0]
    if is_main_process():
        provenance["diagnostics"] = trust_warnings(cfg, data, reference, runs, per_seed)
        provenance["bytes_per_token"] = bytes_per_token(data)
        for warning in provenance["diagnostics"]["warnings"]:
            say(f"[proxy] warning: {warning}")
    return make_mixture(data.domains, mean.tolist(), baselines, provenance)


def cost_so_far(cfg: DictConfig, data: PackedData, rounds: int, seeds: int) -> dict:
    """FLOPs of the references and proxies trained up to and including round `rounds` (doremi.outputs.plan)."""
    parameters = count_params(model_config(cfg, data))
    reference_tokens = int(cfg.reference.max_steps) * int(cfg.reference.batch_size) * data.seq_len
    proxy_tokens = int(cfg.proxy.max_steps) * int(cfg.proxy.batch_size) * data.seq_len
    return search_flops(parameters, reference_tokens, proxy_tokens, rounds, seeds)


def rounds_summary(history: list[dict], domains: list[str]) -> list[dict]:
    out = []
    for r, weights in enumerate(history, start=1):
        change = sum(abs(weights[d] - history[r - 2][d]) for d in domains) if r > 1 else None
        out.append({"round": r, "weights": weights, "l1_change": change})
    return out
