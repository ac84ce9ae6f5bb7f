"""stage=sft_compare: which SFT set should I fine-tune on? Every method of `sft.compare.methods` side by side.

Each method picks `sft.budget` examples from the same pools (the fixed dev set held out before any of them saw
the pools); each set fine-tunes the same base (sft.base) with the same seeds, in full or with LoRA, as
fingerprinted trials under <run_dir>/trials/ (Hydra's launchers can spread them: sft.compare.trial=i). Every
fine-tuned model is scored per dev example on response tokens and per document on the pretraining held-out
set (forgetting). The verdicts are the pretraining compare's (doremi.stages.judge): paired intervals against
random (the control: the recommendation's family, Sidak) and stratified, per source, on the average, the worst
source and sft.compare.target. The recommended set is published with its exports and shown first in the report.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from omegaconf import DictConfig, OmegaConf

from doremi.config import settings
from doremi.config.errors import DoremiError
from doremi.config.settings import SftSettings, TrainerSettings
from doremi.data.tokenizer import load_saved
from doremi.outputs.plan import training_flops
from doremi.outputs.report.sft import summary_text
from doremi.sft.examples import Example
from doremi.sft.methods import BASELINES, SetMethod, entries
from doremi.sft.tune import check_lora, encode, fine_tune, response_sums, steps_of
from doremi.stages.common import (  # fmt: skip
    _flat,
    _select,
    commit,
    file_digest,
    heldout_for,
    is_main_process,
    load_prepared,
    say,
    start,
)
from doremi.stages.graph import TRAINING
from doremi.stages.judge import Trials, judging, noise_floor, recommend
from doremi.stages.sft_sets import check_budget, context, load_base, pools_and_dev, write_jsonl, write_set
from doremi.stats import verdict
from doremi.stats.decide import stein_plan
from doremi.store.files import no_links, read_json, write_json_atomic
from doremi.store.lock import stage_lock
from doremi.store.trials import train_once
from doremi.training.lm import heldout_scores

TRIAL_SETTINGS = ("sft.epochs", "sft.batch_size", "sft.lr", "sft.min_lr_ratio", "sft.betas", "sft.weight_decay",
                  "sft.dropout_top", "sft.lora", *TRAINING)  # fmt: skip


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def target_of(cfg: DictConfig, sources: list[str]) -> tuple[str, list[int] | None]:
    value = cfg.sft.compare.target
    if isinstance(value, str):
        return value, None
    unknown = [s for s in value if s not in sources]
    if unknown:
        from doremi.data.mixture import closest

        raise DoremiError(f"sft.compare.target names {unknown[0]!r}, not a source of the pools{closest(unknown[0], sources)}")  # fmt: skip
    return "target", [sources.index(s) for s in value]


class Sets:
    """Every method's set, selected once per (method settings, pools, budget, base) and kept under
    <run_dir>/trials/sft-sets/<method>-<key>/ (trial jobs and reruns read it)."""

    def __init__(self, cfg: DictConfig, data, pool: dict, base: tuple[dict, Path], pool_key: str):
        self.cfg, self.data, self.pool, self.base, self.pool_key = cfg, data, pool, base, pool_key
        self.base_key = file_digest(str(base[1]))  # the base model's content, hashed once
        self.root = Path(cfg.run_dir) / "trials" / "sft-sets"

    def key(self, method: SetMethod) -> str:
        spec = {k: _flat(k, _select(self.cfg, k)) for k in method.settings}
        spec.update(method=method.name, pool=self.pool_key, budget=int(self.cfg.sft.budget), seed=int(self.cfg.sft.seed))  # fmt: skip
        if method.uses_base:
            spec["base"] = self.base_key
            spec["base learned"] = str(self.cfg.sft.learn.base)
        return digest(spec)

    def get(self, method: SetMethod) -> tuple[list[Example], dict]:
        folder = self.root / f"{method.name}-{self.key(method)}"
        no_links(folder, self.cfg.run_dir)
        if (folder / "selection.json").is_file():
            record = read_json(folder / "selection.json", "")
            examples = [Example(**json.loads(line)) for line in (folder / "set.jsonl").read_text().splitlines()]
            if digest([ex.id for ex in examples]) == record["set"]:
                return examples, record
            raise DoremiError(f"{folder / 'set.jsonl'} is not the set its selection recorded (edited or replaced): delete {folder} and rerun")  # fmt: skip
        with stage_lock(self.cfg.run_dir, f"trial-{folder.name}", wait=True):  # parallel trial jobs select once
            if (folder / "selection.json").is_file():
                return self.get(method)
            say(f"[sft_compare] {method.name}: selecting {self.cfg.sft.budget} examples")
            started = time.perf_counter()
            chosen = method.select(context(self.cfg, self.data, self.pool, folder, self.base))
            record = {"method": method.name, "set": digest([ex.id for ex in chosen.examples]), "cost": chosen.cost,
                      "notes": chosen.notes, "seconds": time.perf_counter() - started}  # fmt: skip
            if is_main_process():
                write_jsonl(folder / "set.jsonl", chosen.examples)
                write_json_atomic(folder / "selection.json", record)  # last: it marks the set whole
            return chosen.examples, record


def run(cfg: DictConfig, runner=None) -> str | None:
    from doremi.stages.graph import TABLE, locate, names, stage_dir

    for stage in names(TABLE["sft_compare"].runs_first, cfg):  # a first compare on a fresh run_dir is one command
        if not (stage_dir(cfg, stage) / "done.json").is_file() and runner is not None:
            if cfg.sft.compare.get("trial") is not None:
                raise DoremiError(f"sft.compare.trial={cfg.sft.compare.trial}: run `stage=sft_compare sft.compare.trial=-1` once first")  # fmt: skip
            runner(cfg, stage)
    methods = entries(cfg.sft.compare.methods)
    data = load_prepared(cfg)
    base = load_base(cfg, data, str(cfg.sft.base), "sft.base")
    check_lora(base[0]["model_config"], cfg.sft.lora)
    trial = cfg.sft.compare.get("trial")
    out = None
    if trial is None:
        out = start(cfg, "sft_compare", publish=None)
        if out is None:
            return summary_text(read_json(locate(cfg, "sft_leaderboard"), ""))
    pool, dev, held = pools_and_dev(cfg, "sft_compare")
    check_budget(cfg, pool)
    sources = sorted(set(pool) | {ex.source for ex in dev})
    kind, indices = target_of(cfg, sources)
    pool_key = digest(sorted(ex.id for v in pool.values() for ex in v))
    sets = Sets(cfg, data, pool, base, pool_key)
    say_cost(cfg, methods, pool, base[0])
    chosen = {m.name: sets.get(m) for m in methods}
    seeds = [int(cfg.seed) + i for i in range(int(cfg.sft.compare.seeds))]
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    length = int(base[0]["model_config"]["seq_len"])
    dev_rows = encode(tokenizer, [ex.to_record() for ex in dev], length)
    heldout = heldout_for(cfg, data)
    trainer = TrialTrainer(cfg, base, dev_rows, heldout, tokenizer, length, digest([ex.id for ex in dev]))
    trained = distinct(chosen)
    listed = [(name, seed) for name in trained for seed in seeds]
    if trial is not None:
        return one_trial(trainer, chosen, listed, int(trial))
    results = {name: {s: trainer.train(name, chosen[name][0], s) for s in seeds} for name in trained}
    shared = {n: first for n, first in same_sets(chosen).items() if first != n}
    for name, first in shared.items():
        results[name] = results[first]
    stein = None
    if cfg.sft.compare.resolution is not None:
        stein = second_stage(cfg, trainer, chosen, results, shared, dev_rows, sources, (kind, indices))
    if not is_main_process():
        commit(out)
        return None
    board = leaderboard(cfg, data, chosen, results, shared, dev_rows, sources, heldout, (kind, indices), base[0], stein)
    board["dev_set"] = held
    recommended = board["recommendation"]["method"]
    write_set(out.tmp / "recommended", out.final / "recommended", sources, chosen[recommended][0], dev,
              {"method": recommended, "recommended_by": "stage=sft_compare", "recommendation": board["recommendation"]["line"],
               "cost": chosen[recommended][1]["cost"]})  # fmt: skip
    board["published"] = str(out.final / "recommended")
    write_json_atomic(out.tmp / "leaderboard.json", board)
    commit(out)
    say(f"[sft_compare] wrote {out.final / 'leaderboard.json'}")
    return summary_text(board)


def same_sets(chosen: dict) -> dict[str, str]:
    """{method: the first method with the same set} (the same set and seed: the same fine-tune)."""
    first: dict[str, str] = {}
    out = {}
    for name, (_, record) in chosen.items():
        out[name] = first.setdefault(record["set"], name)
    return out


def distinct(chosen: dict) -> list[str]:
    """The methods whose sets are trained (the first of each set)."""
    return [n for n, first in same_sets(chosen).items() if n == first]


def say_cost(cfg: DictConfig, methods: list[SetMethod], pool: dict, base: dict) -> None:
    """The compare's cost before any work: fine-tunes, their steps, and the scoring methods' forward passes."""
    examples = sum(len(v) for v in pool.values())
    batch, steps = steps_of(int(cfg.sft.budget), int(cfg.sft.batch_size), int(cfg.sft.epochs))
    seeds = int(cfg.sft.compare.seeds)
    passes = sum(m.passes * examples for m in methods)
    learned = 2 * int(cfg.sft.learn.steps) * sum(m.learns_quotas for m in methods)
    how = f"LoRA r={cfg.sft.lora.r}" if int(cfg.sft.lora.r) else "full fine-tuning"
    say(
        f"[sft_compare] {len(methods)} sets ({', '.join(m.name for m in methods)}) x {seeds} seeds = up to "
        f"{len(methods) * seeds} fine-tunes of {steps} steps of {batch} chats ({how}); selection: about {passes:,} "
        f"base-model forward passes" + (f", {learned} fine-tuning steps for learned quotas" if learned else "")
        + (f", {sum(m.fits for m in methods)} classifier fit(s)" if any(m.fits for m in methods) else "")
    )  # fmt: skip


class TrialTrainer:
    """One trial: a set fine-tuned with one seed into <run_dir>/trials/sft-<method>-seed-<s>-<id>/ (locked, no link
    followed, reused when its result is there), scored on the dev set and the pretraining held-out documents."""

    def __init__(self, cfg, base, dev_rows, heldout, tokenizer, length, dev_key):
        self.cfg, self.base, self.dev, self.heldout = cfg, base, dev_rows, heldout
        self.base_key = file_digest(str(base[1]))  # hashed once, not for every trial
        self.tokenizer, self.length, self.dev_key = tokenizer, length, dev_key
        self.sft, self.run = settings.of(cfg, SftSettings), settings.of(cfg, TrainerSettings)

    def folder(self, name: str, examples: list[Example], seed: int) -> Path:
        spec = {k: _flat(k, _select(self.cfg, k)) for k in TRIAL_SETTINGS}
        spec.update(set=digest([ex.id for ex in examples]), dev=self.dev_key, seed=int(seed),
                    base=self.base_key,
                    heldout=self.heldout.documents)  # fmt: skip
        return Path(self.cfg.run_dir) / "trials" / f"sft-{name}-seed-{seed}-{digest(spec)}"

    def train(self, name: str, examples: list[Example], seed: int) -> dict:
        where = self.folder(name, examples, seed)

        def fine_tuned() -> dict:
            say(f"[sft_compare] fine-tuning on the {name} set ({len(examples)} chats), seed {seed}")
            started = time.perf_counter()
            rows = encode(self.tokenizer, [ex.to_record() for ex in examples], self.length)
            model = fine_tune(self.base[0], rows, self.sft, self.run, seed, where, f"sft:{name}:seed-{seed}")
            sums, tokens = response_sums(model, self.dev)
            result = {
                "seed": seed,
                "examples": len(examples),
                "dev": {"sums": sums.tolist(), "tokens": tokens.tolist()},
                "heldout_documents": heldout_scores(model, self.heldout)[1].tolist(),
                "seconds": time.perf_counter() - started,
            }
            if is_main_process():
                write_json_atomic(where / "result.json", result)
            return result

        return train_once(self.cfg.run_dir, where, fine_tuned, is_main_process())


def one_trial(trainer: TrialTrainer, chosen: dict, listed: list, index: int) -> str:
    if index < 0:
        lines = [f"[sft_compare] trial {i}: {name}, seed {seed}" for i, (name, seed) in enumerate(listed)]
        command = (f"python -m doremi -m stage=sft_compare 'sft.compare.trial=range(0,{len(listed)})' "
                   "hydra/launcher=joblib hydra.launcher.n_jobs=2   # then: python -m doremi stage=sft_compare")  # fmt: skip
        return "\n".join([*lines, f"{len(listed)} trials; train them with", command])
    if index >= len(listed):
        raise DoremiError(f"sft.compare.trial={index}: this compare has {len(listed)} trials (0 to {len(listed) - 1})")
    name, seed = listed[index]
    trainer.train(name, chosen[name][0], seed)
    return f"[sft_compare] trial {index} ({name}, seed {seed}) done: {trainer.folder(name, chosen[name][0], seed)}"


def as_history(results: dict, key: str, groups: list[str], owner: np.ndarray, tokens: np.ndarray) -> dict:
    """{name: {seed: {"history": [one evaluation]}}} as doremi.stages.judge reads it, from per-document sums."""
    out = {}
    for name, per_seed in results.items():
        out[name] = {}
        for seed, result in per_seed.items():
            sums = np.asarray(result[key]["sums"] if key == "dev" else result[key], dtype=np.float64)
            losses = {g: float(sums[owner == i].sum() / max(tokens[owner == i].sum(), 1)) for i, g in enumerate(groups)}
            out[name][seed] = {"history": [{"step": 1, "documents": sums.tolist(), "losses": losses}]}
    return out


def verdicts(cfg, results, shared, seeds_of, groups, owner, tokens, indices, stein: dict | None = None) -> dict:
    """{name: {baseline: verdicts}} of per-document sums grouped by `owner` (dev examples by source, or pretraining
    held-out documents by domain), with the pretraining compare's statistics."""
    return judging(
        cfg, SimpleNamespace(domains=groups), Trials(results, shared, seeds_of), [1],
        SimpleNamespace(doc_domain=owner, doc_tokens=tokens), indices, stein, baselines=BASELINES,
    )  # fmt: skip


def on_dev_set(cfg, results, shared, dev_rows, sources, indices, stein: dict | None = None) -> tuple[dict, dict]:
    """(the trials' dev losses as doremi.stats.decide reads them, every set's verdicts on the dev set)."""
    owner = np.array([sources.index(s) for s in dev_rows.sources])
    tokens = np.asarray(next(iter(next(iter(results.values())).values()))["dev"]["tokens"], dtype=np.float64)
    seeds_of = {n: list(per_seed) for n, per_seed in results.items()}
    dev_hist = as_history(results, "dev", sources, owner, tokens)
    return dev_hist, verdicts(cfg, dev_hist, shared, seeds_of, sources, owner, tokens, indices, stein)


def second_stage(cfg, trainer, chosen, results, shared, dev_rows, sources, target) -> dict:
    """sft.compare.resolution: Stein's two stages, as stage=compare's (doremi.stats.decide.stein_plan): the pilot's
    seeds (sft.compare.seeds) give every set in contention the seeds that bring its interval against random to
    the resolution; sets limited by their dev examples keep the pilot's; random trains as many as the most."""
    kind, indices = target
    pilot_n, resolution = int(cfg.sft.compare.seeds), float(cfg.sft.compare.resolution)
    _, pilot = on_dev_set(cfg, results, shared, dev_rows, sources, indices)
    contenders = [n for n in pilot if n != "random" and shared.get(n) != "random" and "random" in pilot[n]]
    plan = stein_plan(pilot, contenders, kind, resolution, pilot_n, int(cfg.sft.compare.max_seeds), control="random")
    for name, first in shared.items():  # a set shared with another needs that one's seeds
        plan["need"][first] = max(plan["need"].get(first, pilot_n), plan["need"].get(name, pilot_n))
    trained = distinct(chosen)
    extra = sum(max(plan["need"].get(n, pilot_n) - pilot_n, 0) for n in trained)
    say(f"[sft_compare] sft.compare.resolution={resolution}: the pilot of {pilot_n} seeds asks for {extra} more fine-tunes"
        + "".join(f"; {what}: {', '.join(plan[key])}" for key, what in (("out", "out after the pilot"), ("documents", "limited by their dev examples"), ("unreachable", "not reachable within sft.compare.max_seeds")) if plan[key]))  # fmt: skip
    first_seed = int(cfg.seed)
    for name in trained:
        for s in range(first_seed + pilot_n, first_seed + plan["need"].get(name, pilot_n)):
            results[name][s] = trainer.train(name, chosen[name][0], s)
    for name, first in shared.items():
        results[name] = results[first]
    return {"resolution": resolution, "pilot_seeds": pilot_n, "seeds": {n: len(r) for n, r in results.items()},
            "extra_fine_tunes": extra, "out_after_pilot": plan["out"], "limited_by_documents": plan["documents"],
            "unreachable": plan["unreachable"], "pilot": {n: verdict.pilot_noise(pilot[n]["random"]) for n in contenders}}  # fmt: skip


def leaderboard(cfg, data, chosen, results, shared, dev_rows, sources, heldout, target, base: dict, stein=None) -> dict:
    kind, indices = target
    seeds_of = {n: list(per_seed) for n, per_seed in results.items()}
    dev_hist, on_dev = on_dev_set(cfg, results, shared, dev_rows, sources, indices, stein)
    pre_hist = as_history(results, "heldout_documents", data.domains, heldout.doc_domain, heldout.doc_tokens)
    on_pre = verdicts(cfg, pre_hist, shared, seeds_of, data.domains, heldout.doc_domain, heldout.doc_tokens, None)  # fmt: skip
    before = base_heldout(cfg, base, heldout)
    params = sum(int(np.prod(v.shape)) for v in base["state_dict"].values())
    batch, steps = steps_of(int(cfg.sft.budget), int(cfg.sft.batch_size), int(cfg.sft.epochs))
    one_tune = training_flops(params, steps * batch * int(base["model_config"]["seq_len"]))
    rows = []
    for name, (examples, record) in chosen.items():
        per_seed = dev_hist[name]
        averages = [np.mean(list(r["history"][0]["losses"].values())) for r in per_seed.values()]
        after = [pre_average(r["history"][0]["losses"]) for r in pre_hist[name].values()]
        cost = record["cost"]
        flops = 2 * params * int(base["model_config"]["seq_len"]) * cost.get("forward_passes", 0)
        flops += training_flops(params, cost.get("fine_tune_steps", 0) * int(cfg.sft.learn.batch_size) * int(base["model_config"]["seq_len"]))  # fmt: skip
        rows.append({
            "method": name,
            "examples": len(examples),
            "sources": {s: sum(ex.source == s for ex in examples) for s in sources},
            "same_models_as": shared.get(name),
            "seeds": seeds_of[name],
            "cost": {**cost, "flops": flops, "share_of_final_run": flops / one_tune},
            "average": float(np.mean(averages)),
            "losses": {s: float(np.mean([r["history"][0]["losses"][s] for r in per_seed.values()])) for s in sources},
            "forgetting": {"before": before, "after": float(np.mean(after)), "increase": float(np.mean(after)) - before,
                           "vs": {b: {k: on_pre[name][b]["average"][k] for k in ("difference", "interval", "verdict")}
                                  for b in on_pre[name]}},
            "vs": on_dev[name],
            "notes": record.get("notes", {}),
        })  # fmt: skip
    for row in rows:
        row["rank_key"] = row["vs"]["random"][kind]["difference"] if "random" in row["vs"] else 0.0
    rows.sort(key=lambda r: r["rank_key"])
    summary = {r["method"]: {"seed_sd": float(np.std([np.mean(list(x["history"][0]["losses"].values())) for x in dev_hist[r["method"]].values()], ddof=1)) if len(r["seeds"]) > 1 else 0.0} for r in rows}  # fmt: skip
    return {
        "kind": "sft",
        "control": "random",
        "sources": sources,
        "seeds": seeds_of["random"],
        "target": {"kind": kind, "sources": [sources[i] for i in indices] if indices else None},
        "budget": {
            "examples": int(cfg.sft.budget),
            "epochs": int(cfg.sft.epochs),
            "steps": steps,
            "batch_size": batch,
            "flops_per_fine_tune": one_tune,
            "lora": OmegaConf.to_container(cfg.sft.lora, resolve=True) if int(cfg.sft.lora.r) else None,
        },  # fmt: skip
        "base": str(cfg.sft.base),
        "caveat": verdict.caveat(min(len(v) for v in seeds_of.values())),
        "resolution": stein,
        "noise": noise_floor(rows, summary, kind, "random"),
        "rows": rows,
        "recommendation": recommend(rows, kind, BASELINES, "selection"),
    }


def pre_average(losses: dict) -> float:
    return float(np.mean(list(losses.values())))


def base_heldout(cfg, base: dict, heldout) -> float:
    """The base model's average held-out loss over the pretraining domains (before fine-tuning)."""
    from doremi.training.lm import heldout_losses
    from doremi.training.model import build_model
    from doremi.training.train import device_for

    model = build_model(base["model_config"])
    model.load_state_dict(base["state_dict"])
    return pre_average(heldout_losses(model.to(device_for(settings.of(cfg, TrainerSettings))), heldout))
