"""stage=swarm: the small runs that the fitted methods learn from (doremi.methods.swarm).

Run i trains `swarm.model` (the run's model with these keys changed) for `swarm.steps` on the
mixture doremi.methods.swarm.runs samples for it, then scores every domain's held-out loss with the final
stage's held-out set. Each run writes only its own folder, swarm/runs/<fingerprint>/ (built as
<fingerprint>.partial and renamed), so runs may go in any order, on any machine, and a run lost
to a preempted node is simply run again. `swarm.index` picks runs (null: all); Hydra's launchers
spread them:

    python -m doremi -m stage=swarm 'swarm.index=range(0,24)' hydra/launcher=joblib hydra.launcher.n_jobs=2
    python -m doremi -m stage=swarm 'swarm.index=range(0,24)' hydra/launcher=swarm_slurm   # doremi/conf/hydra/launcher/

Every run uses `swarm.threads` threads (1 by default), so a launch in parallel, one after the
other, or on a cluster gives the same numbers. `stage=learn` of a fitted method trains the
runs still missing (with `swarm.train=true`) and fits on what is there, saying how many.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from doremi.config.errors import DoremiError
from doremi.config.files import MODEL_PRESETS
from doremi.data.mixture import resolve_mixture
from doremi.methods.common import aimed_at
from doremi.methods.swarm.runs import read_runs, run_id, sample_mixture
from doremi.outputs.plan import training_flops
from doremi.pipeline.common import heldout_for, load_prepared, model_config
from doremi.pipeline.graph import locate, stage_dir
from doremi.store.files import read_json, write_json_atomic, write_text_atomic
from doremi.store.runtime import is_main_process, say
from doremi.training.fitting import fit_lm, trained
from doremi.training.lm import heldout_scores


def swarm_config(cfg: DictConfig, model: dict | None = None) -> DictConfig:
    """The run's config with the swarm's model (or the keys `model` changes) and no extra files (checkpoints,
    Hugging Face copies)."""
    derived = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    changes = model if model is not None else (OmegaConf.to_container(cfg.swarm.model, resolve=True) or {})
    with open_dict(derived):
        for key, value in changes.items():
            derived.model[key] = value
        derived.trainer.hf_checkpoints = False
        derived.trainer.progress_lines = 0
        derived.checkpoint.every = 0
        derived.resume = None
    return derived


def larger_model(name: str, key: str) -> dict:
    """The model keys of preset `name` (doremi/conf/model/<name>.yaml) a scale check trains with (its seq_len stays the
    data's); one line naming `key` when there is no such preset."""
    preset = MODEL_PRESETS / f"{name}.yaml"
    if not preset.is_file():
        choices = ", ".join(sorted(p.stem for p in MODEL_PRESETS.glob("*.yaml")))
        raise DoremiError(f"{key}={name}: not a model preset; choose one of {choices}")
    return {k: v for k, v in preset_model(preset).items() if k != "seq_len" and v is not None}


def preset_model(preset: Path) -> dict:
    """A model preset's settings: the schema's defaults with the preset's changes (doremi/conf/model/<name>.yaml)."""
    from doremi.config.schema import Model

    return OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(Model), OmegaConf.load(preset)))


def spec_base(cfg: DictConfig, data, steps: int, model: dict | None = None) -> dict:
    """What every run of one size shares; `model`: keys of the run's model changed instead of swarm.model
    (the scale check's larger runs)."""
    s = cfg.swarm
    target = aimed_at(cfg, data)
    return {
        **({"target": target.digest} if target is not None else {}),  # also scored on the target (its screen part)
        "steps": int(steps),
        "batch_size": int(s.batch_size),
        "model": model_config(swarm_config(cfg, model), data),
        "model_changes": model,
        "optim": OmegaConf.to_container(cfg.optim, resolve=True),
        "eval_chunks": cfg.final.eval_chunks,
        "threads": int(s.threads),
        "prepared": read_json(stage_dir(cfg, "prepare") / "done.json", "rerun stage=prepare")["fingerprint"],
        "scored_on": "the screen's quarter of the held-out documents",  # a compare decides on the rest
    }


def make_spec(cfg: DictConfig, base: dict, domains: list[str], weights, index) -> dict:
    """Everything that decides one run's result; its fingerprint names its folder."""
    spec = {
        **base,
        "index": index,
        "weights": dict(zip(domains, (round(float(w), 12) for w in weights))),
        "seed": int(cfg.swarm.seed) + (index if isinstance(index, int) else 0),
    }
    return {**spec, "id": run_id({k: v for k, v in spec.items() if k != "index"})}


def specs(cfg: DictConfig, data) -> list[dict]:
    """One spec per run index of the swarm."""
    s = cfg.swarm
    prior = resolve_mixture(str(s.prior), data.domains, data.token_counts("train"), "swarm.prior")
    base = spec_base(cfg, data, int(s.steps))
    return [
        make_spec(cfg, base, data.domains, sample_mixture(prior, i, int(s.seed), list(s.concentrations)), i)
        for i in range(int(s.runs))
    ]


def scale_check(cfg: DictConfig, data, predicted, kind: str, indices, found: list[dict]) -> dict:
    """Does the small scale transfer? The predicted mixture, stratified and the first swarm.check_runs swarm
    mixtures trained again with the model preset swarm.check_scale (for swarm.check_steps). The rank correlation
    between the two sizes' target losses and the share of pairs decided alike describe it (point estimates);
    the warning follows the compare's one rule (doremi.stats.decide.scale_warning): the predicted mixture
    judged against stratified at the larger size, with the compare's intervals over held-out documents."""
    from doremi.methods.swarm.fits import decision_agreement, quality
    from doremi.methods.swarm.runs import target_values
    from doremi.stats.decide import scale_warning, verdicts_at_scale

    larger = larger_model(str(cfg.swarm.check_scale), "swarm.check_scale")
    k = len(data.domains)
    chosen = {"predicted": list(predicted), "stratified": [1.0 / k] * k}
    chosen.update(
        {f"swarm-{r['index']}": [r["weights"][d] for d in data.domains] for r in found[: int(cfg.swarm.check_runs)]}
    )
    folder = stage_dir(cfg, "swarm") / "scale"
    heldout = heldout_for(cfg, data)
    sizes: dict[str, dict[str, float]] = {"small": {}, "large": {}}
    at_size: dict[str, dict] = {}
    bases = {
        "small": spec_base(cfg, data, int(cfg.swarm.steps)),
        "large": spec_base(cfg, data, int(cfg.swarm.check_steps), larger),
    }
    for name, weights in chosen.items():
        for size, base in bases.items():
            spec = make_spec(cfg, base, data.domains, weights, f"{name}:{size}")
            done = folder / spec["id"] / "result.json"
            result = read_json(done, "") if done.is_file() else None
            if result is None or (size == "large" and "documents" not in result):  # judged: needs its documents
                result = train_run(cfg, data, spec, folder, heldout, documents=size == "large")
            losses = np.array([[result["losses"][d] for d in data.domains]])
            value = result["target_loss"] if kind == "external" else target_values(losses, kind, indices)[0]
            sizes[size][name] = float(value)
            if size == "large":
                at_size[name] = {0: {"history": [{"step": spec["steps"], "documents": result["documents"]}]}}
    names = list(chosen)
    small, large = (np.array([sizes[s][n] for n in names]) for s in ("small", "large"))
    judged = verdicts_at_scale(
        {n: at_size[n] for n in ("predicted", "stratified")},
        [0],
        heldout,
        data.domains,
        kind,
        indices,
        int(cfg.seed),
        heldout.parts()[0],  # the documents the swarm scores on, as its losses above
    )
    out = {
        "preset": str(cfg.swarm.check_scale),
        "steps": int(cfg.swarm.check_steps),
        "spearman": quality(large, small)["spearman"],
        "decision_agreement": decision_agreement(small, large),
        "small": sizes["small"],
        "large": sizes["large"],
        "best_small": names[int(small.argmin())],
        "best_large": names[int(large.argmin())],
        "at_larger": judged,
    }
    v = judged["predicted"]
    say(
        f"[swarm] scale check ({out['preset']}): rank correlation between sizes {out['spearman']:.3f} (point "
        f"estimates); the predicted mixture against stratified there: {v['difference']:+.4f} "
        f"[{v['interval'][0]:+.4f}, {v['interval'][1]:+.4f}] {v['verdict']}"
    )
    warning = scale_warning("predicted", judged, out["preset"], seeds=1, key="the compare's scale check")
    if warning:
        out["warning"] = warning
        say(f"[swarm] warning: {warning}")
    return out


@contextmanager
def threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_run(cfg: DictConfig, data, spec: dict, folder: Path, heldout, documents: bool = False) -> dict:
    """One run: train, score (with `documents`, every held-out document too), write result.json, rename its
    folder into place."""
    final, partial = folder / spec["id"], folder / f"{spec['id']}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    small = swarm_config(cfg, spec.get("model_changes"))
    stage = OmegaConf.create({"max_steps": spec["steps"], "batch_size": spec["batch_size"]})
    weights = [spec["weights"][d] for d in data.domains]
    with threads(spec["threads"]):
        module = fit_lm(small, data, weights, stage, partial, f"swarm:{spec['index']}", seed=int(spec["seed"]))
        model = trained(module)
        _, per_document = heldout_scores(model, heldout)
        losses = heldout.losses_on(per_document, heldout.parts()[0])  # never the documents a compare decides on
        target = aimed_at(cfg, data) if spec.get("target") else None
        if target is not None:  # the target's screen part: a compare judging on the target decides on the rest
            from doremi.data.target import target_loss

            _, sums = heldout_scores(model, target.heldout)
            target_value = target_loss(sums, target, target.heldout.parts()[0])
    parameters = model.num_params()
    tokens = spec["steps"] * spec["batch_size"] * data.seq_len
    result = {
        "index": spec["index"],
        "id": spec["id"],
        "weights": spec["weights"],
        "losses": losses,
        **({"target_loss": target_value} if target is not None else {}),
        "seed": spec["seed"],
        "steps": spec["steps"],
        "batch_size": spec["batch_size"],
        "parameters": parameters,
        "tokens": tokens,
        "flops": training_flops(parameters, tokens),
        **({"documents": per_document.tolist()} if documents else {}),
    }
    if is_main_process():
        for leftover in ("checkpoints", "logs"):
            shutil.rmtree(partial / leftover, ignore_errors=True)
        write_json_atomic(partial / "result.json", result)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
    return result


def indices_of(cfg: DictConfig, total: int) -> list[int]:
    value = cfg.swarm.get("index")
    if value is None:
        return list(range(total))
    chosen = [value] if isinstance(value, int) else list(OmegaConf.to_container(value))
    bad = [i for i in chosen if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < total]
    if bad:
        raise DoremiError(f"swarm.index={value}: expected run numbers in [0, {total}) (swarm.runs={total}) or null")
    return chosen


def ensure(cfg: DictConfig, data, train: bool = True, chosen: list[int] | None = None) -> tuple[list[dict], list[dict]]:
    """(finished runs, runs still missing) of this swarm; with `train`, the missing ones (of `chosen`) are trained
    here first, one after the other. The table swarm/runs.jsonl lists the finished ones."""
    table_file = locate(cfg, "swarm_runs")
    folder = table_file.parent / "runs"
    all_specs = specs(cfg, data)
    todo = all_specs if chosen is None else [all_specs[i] for i in chosen]
    missing = [s for s in todo if not (folder / s["id"] / "result.json").is_file()]
    if train and missing:
        heldout = heldout_for(cfg, data)
        say(f"[swarm] training {len(missing)} of {len(todo)} run(s) ({len(todo) - len(missing)} reused)")
        for n, spec in enumerate(missing, start=1):
            result = train_run(cfg, data, spec, folder, heldout)
            average = sum(result["losses"].values()) / len(result["losses"])
            say(f"[swarm] run {spec['index']} ({n}/{len(missing)}): average held-out loss {average:.4f}")
    found, still = read_runs(folder, [s["id"] for s in all_specs])  # in run order
    if is_main_process() and found:
        write_text_atomic(table_file, "".join(json.dumps(r) + "\n" for r in found))
    return found, [s for s in all_specs if s["id"] in set(still)]


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    total = int(cfg.swarm.runs)
    chosen = indices_of(cfg, total)
    found, missing = ensure(cfg, data, True, chosen)
    say(f"[swarm] {len(found)} of {total} run(s) finished in {stage_dir(cfg, 'swarm')}; {len(missing)} missing")
