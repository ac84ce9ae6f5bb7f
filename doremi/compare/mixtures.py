"""Mixtures as contestants: the trials under stage=final, stage=compare and the scale checks.

A trial is one mixture trained with one seed at the final stage's settings (same architecture, steps,
batch size: the same token budget) and scored on the same held-out documents every
`final.eval_every` steps, per document (doremi.data.heldout), so that doremi.stats.verdict can put an
interval on every difference. Seed s gives every mixture the same initialization and the same
per-domain data order. Mixtures with the same fixed weights share their trials (same weights and seed:
the same run); an online method's weights change as it trains (its method's training-time part, a
callback built from the settings its `learn` recorded), so it never shares.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from doremi.config.keys import FINAL_SETTINGS, digest, flat_settings
from doremi.methods import OnlineSetup, known, resolve
from doremi.stats import verdict
from doremi.store.files import read_json, write_json_atomic
from doremi.store.runtime import is_main_process, say
from doremi.store.trials import train_once
from doremi.training.fitting import fit_lm, save_hf_beside, save_lm, trained


@dataclass
class Candidate:
    """One mixture to train: its weights (in the data's domain order) and, for an online method, the method's
    name and the settings its weights change by (provenance.online)."""

    name: str
    weights: list[float]
    online: dict | None = None
    method: str | None = None


def online_part(candidate: Candidate, data, where: Path, cfg: DictConfig, seed: int):
    """The training-time part of an online candidate's method (a Lightning callback), or None."""
    if not candidate.online:
        return None
    method_name = candidate.method or str(candidate.online.get("method", ""))
    method = resolve(method_name) if method_name in known() else None
    if method is None or method.online is None:
        from doremi.config.errors import DoremiError

        raise DoremiError(
            f"the {candidate.name} mixture changes online (provenance.online) but method {method_name!r} has no "
            "training-time part; relearn it (stage=learn) or give a fixed mixture"
        )
    setup = OnlineSetup(
        data.domains,
        dict(candidate.online),
        where / "schedule.jsonl",
        int(cfg.final.max_steps),
        seed,
        probe=lambda per_domain: probe_rows(data, per_domain, seed),
    )
    return method.online(setup)


def probe_rows(data, per_domain: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(domain ids, token rows): `per_domain` sequences of every domain's *training* split, drawn by `seed`.
    An online method's probe set: never the held-out documents the verdicts score."""
    rng = np.random.default_rng([seed, 7919])
    rows, ids = [], []
    for d, domain in enumerate(data.domains):
        chunks = data.chunks("train", domain)
        take = rng.choice(len(chunks), size=min(per_domain, len(chunks)), replace=False)
        rows.append(np.asarray(chunks[np.sort(take)], dtype=np.int64))
        ids += [d] * len(take)
    return np.array(ids), np.concatenate(rows)


def train_one(cfg, data, candidate: Candidate, seed, heldout, where: Path, save_to: Path | None, target=None) -> dict:
    """Train and score one mixture with one seed; its result (history with per-document sums), also written
    to where/result.json. An online candidate writes where/schedule.jsonl. With `target` (doremi.data.target), the
    final model is also scored on the target's documents (result["target"])."""
    started = time.perf_counter()
    part = online_part(candidate, data, where, cfg, seed)
    callbacks = [part] if part is not None else None
    module = fit_lm(
        cfg,
        data,
        candidate.weights,
        cfg.final,
        where,
        f"final:{candidate.name}:seed-{seed}",
        int(cfg.final.eval_every),
        heldout,
        seed,
        callbacks=callbacks,
    )
    result = {
        "seed": seed,
        "weights": dict(zip(data.domains, candidate.weights)),
        "passes": module.passes,
        "history": module.eval_history,
        "seconds": time.perf_counter() - started,
        "eval_seconds": module.eval_seconds,
    }
    if part is not None:
        result["schedule"] = part.schedule
        result["online_seconds"] = part.seconds
    model = trained(module)
    if target is not None:
        from doremi.data.target import target_loss
        from doremi.training.lm import heldout_scores

        _, sums = heldout_scores(model, target.heldout)
        result["target"] = {"digest": target.digest, "documents": sums.tolist(), "loss": target_loss(sums, target)}
    if save_to is not None:
        save_lm(save_to, model, cfg, data, candidate.weights)
    save_hf_beside(cfg, model, where / "hf", data)  # every mixture and seed
    if is_main_process():
        write_json_atomic(where / "result.json", result)
    return result


NOT_A_TRIALS = ("final.seeds", "final.mixture", "final.baselines")


def trial_id(cfg: DictConfig, data, candidate: Candidate, seed: int, target: str | None = None) -> str:
    """The fingerprint of one trial: the final stage's settings, the prepared data, the mixture (weights and
    online settings) and the seed. The same trial has the same id in every run of a run_dir, whoever trains it."""
    settings = flat_settings(cfg, FINAL_SETTINGS)
    for key in NOT_A_TRIALS:  # what decides which trials run, not what one trial trains
        settings.pop(key, None)
    spec = {
        "settings": settings,
        "data": data.manifest.get("data_hash"),
        "weights": [round(w, 12) for w in candidate.weights],
        "online": candidate.online,
        "seed": int(seed),
    }
    if target:  # scored on a target too (its digest): a trial without one keeps its id
        spec["target"] = target
    return f"{candidate.name}-seed-{seed}-{digest(spec)}"


def trials_dir(cfg: DictConfig) -> Path:
    """<run_dir>/trials/: one folder per trial, outside any stage's output, so that Hydra's launchers can train
    trials in parallel jobs and stage=compare reuses whatever is finished."""
    return Path(cfg.run_dir) / "trials"


def train_seeds(
    cfg, data, candidate: Candidate, seeds, heldout, folder: Path, save_to=None, shared_trials=False, target=None
):
    """Every seed of one mixture under folder/<name>/seed-<s>/, reusing seeds trained before (an interruption,
    resume=auto); `save_to`: where the first seed's model.pt goes. With `shared_trials`, each seed trains in
    <run_dir>/trials/<trial id>/ (reused when finished there) and its result and schedule are copied in."""
    stage = folder.name.removesuffix(".partial")
    out = {}
    for seed in seeds:
        where = folder / candidate.name / f"seed-{seed}"
        mark = target.digest if target is not None else None
        trained_in = trials_dir(cfg) / trial_id(cfg, data, candidate, seed, mark) if shared_trials else where

        def train(seed=seed, trained_in=trained_in):
            say(f"[{stage}] training on the {candidate.name} mixture, seed {seed}")
            first = save_to if seed == seeds[0] else None
            return train_one(cfg, data, candidate, seed, heldout, trained_in, first, target)

        if shared_trials:
            out[seed] = train_once(cfg.run_dir, trained_in, train, is_main_process())
        elif (trained_in / "result.json").exists():
            out[seed] = read_json(trained_in / "result.json", "")
        else:
            out[seed] = train()
        if shared_trials and is_main_process():
            for name in ("result.json", "schedule.jsonl"):
                if (trained_in / name).is_file():
                    where.mkdir(parents=True, exist_ok=True)
                    (where / name).write_bytes((trained_in / name).read_bytes())
    return out


class MixtureContestant:
    """A mixture in a compare (doremi.compare.engine's contestant): each seed one fingerprinted trial under
    <run_dir>/trials/, its result copied into the stage's folder; equal fixed weights share their trials."""

    def __init__(self, cfg, data, candidate: Candidate, heldout, folder: Path, cost: float = 0.0, target=None):
        self.cfg, self.data, self.candidate, self.heldout, self.folder = cfg, data, candidate, heldout, folder
        self.target = target
        self.name, self.cost = candidate.name, cost
        self.key = None if candidate.online else digest([round(w, 12) for w in candidate.weights])

    def train(self, seed: int) -> dict:
        one = [seed]
        return train_seeds(
            self.cfg, self.data, self.candidate, one, self.heldout, self.folder, None, True, self.target
        )[seed]


def history(result: dict) -> list:
    """A mixture trial's evaluations, each with its per-document sums."""
    return result["history"]


def target_history(result: dict) -> list:
    """A mixture trial's score on the user's target (doremi.data.target): one evaluation, the final model's."""
    return [{"step": result["history"][-1]["step"], "documents": result["target"]["documents"]}]


def same_weights(a: Candidate, b: Candidate) -> bool:
    """Whether two fixed mixtures have the same weights (to 1e-12): the same trials."""
    if a.online or b.online:
        return False
    return bool(np.allclose(a.weights, b.weights, rtol=0, atol=1e-12))


def distinct(candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, str]]:
    """(the candidates that train, {name: the earlier name with the same weights, whose trials it shares})."""
    kept: list[Candidate] = []
    shared: dict[str, str] = {}
    for candidate in candidates:
        same = next((c.name for c in kept if same_weights(c, candidate)), None)
        if same:
            shared[candidate.name] = same
        else:
            kept.append(candidate)
    return kept, shared


def trial_list(candidates: list[Candidate], seeds: list[int]) -> list[tuple[Candidate, int]]:
    """The trials of `candidates` x `seeds` in a fixed order (compare.trial=i trains the i-th), equal weights once."""
    return [(candidate, seed) for candidate in distinct(candidates)[0] for seed in seeds]


def train_all(
    cfg,
    data,
    candidates: list[Candidate],
    seeds,
    heldout,
    folder: Path,
    save_first: Path | None = None,
    shared_trials: bool = False,
):
    """Every candidate x seed; (results {name: {seed: result}}, shared {name: the name whose trials it reuses}).
    The first candidate's first seed is saved as `save_first` (model.pt)."""
    _, shared = distinct(candidates)
    stage = folder.name.removesuffix(".partial")
    results: dict[str, dict[int, dict]] = {}
    for candidate in candidates:
        same = shared.get(candidate.name)
        if same:
            say(f"[{stage}] {candidate.name} has the same weights as {same}: its models are {same}'s")
            results[candidate.name] = results[same]
            continue
        first = candidate is candidates[0]
        results[candidate.name] = train_seeds(
            cfg, data, candidate, seeds, heldout, folder, save_first if first else None, shared_trials
        )
    return results, shared


def summarize(per_seed: dict[int, dict], domains: list[str], bytes_per_token: dict[str, float]) -> dict:
    """Mean over seeds of the final and intermediate losses, with each domain's spread."""
    seeds = list(per_seed)
    histories = [per_seed[s]["history"] for s in seeds]
    final = np.array([[h[-1]["losses"][d] for d in domains] for h in histories])  # (S, D)
    mean = final.mean(axis=0)
    losses = dict(zip(domains, mean.tolist()))
    worst = max(losses, key=losses.get)
    history = []
    for j, record in enumerate(histories[0]):
        per_domain = np.array([[h[j]["losses"][d] for d in domains] for h in histories])  # (S, D)
        history.append(
            {
                "step": record["step"],
                "average": float(per_domain.mean()),
                "average_per_seed": per_domain.mean(axis=1).tolist(),
                "worst": float(per_domain.mean(axis=0).max()),
                "losses": dict(zip(domains, per_domain.mean(axis=0).tolist())),
            }
        )
    averages = final.mean(axis=1)
    return {
        "losses": losses,
        "spread": dict(zip(domains, verdict.spread(final).tolist())),  # standard deviation over seeds
        "seed_sd": float(averages.std(ddof=1)) if len(averages) > 1 else 0.0,  # of the average, over seeds
        "bits_per_byte": {d: losses[d] / math.log(2) / bytes_per_token[d] for d in domains if bytes_per_token[d] > 0},
        "perplexity": {d: math.exp(v) for d, v in losses.items()},
        "average": float(mean.mean()),
        "worst": {"domain": worst, "loss": losses[worst]},
        "seeds": {
            str(s): {"losses": dict(zip(domains, row.tolist())), "average": float(row.mean())}
            for s, row in zip(seeds, final)
        },
        "history": history,
        "passes": per_seed[seeds[0]]["passes"],
        "weights": per_seed[seeds[0]]["weights"],
    }


def repetition_warnings(mixtures: dict, max_epochs) -> list[str]:
    """A warning for every trained mixture that passes over a domain more than plan.max_epochs times."""
    if max_epochs is None:
        return []
    out = []
    for name, summary in mixtures.items():
        over = {d: p for d, p in summary["passes"].items() if p > float(max_epochs)}
        if over:
            listed = ", ".join(f"{d} {p:.1f}" for d, p in sorted(over.items(), key=lambda x: -x[1]))
            out.append(
                f"the {name} mixture repeats {len(over)} domain(s) more than plan.max_epochs={max_epochs} times "
                f"({listed} epochs); learn.feasible=true or stage=plan caps it"
            )
    return out


def summaries(cfg, domains, results, heldout, stage: str) -> tuple[dict, list[str]]:
    """Every mixture's summary and the repetition warnings (printed once)."""
    bytes_per_token = heldout.bytes_per_token()
    out = {name: summarize(per_seed, domains, bytes_per_token) for name, per_seed in results.items()}
    warnings = repetition_warnings(out, cfg.plan.max_epochs)
    for warning in warnings:
        say(f"[{stage}] warning: {warning}")
    return out, warnings


def time_spent(results: dict) -> dict:
    train = sum(r["seconds"] for per_seed in results.values() for r in per_seed.values())
    evaluation = sum(r["eval_seconds"] for per_seed in results.values() for r in per_seed.values())
    return {
        "training_seconds": train,
        "evaluation_seconds": evaluation,
        "evaluation_share": evaluation / max(train, 1e-9),
    }


def schedule_average(cfg: DictConfig, data, name: str, schedule: list[dict], folder: Path) -> None:
    """<name>/schedule-average.json: an online schedule's weights averaged over the steps they were used (first
    seed), as a mixture file, for trainers that take one mixture (export it like any other)."""
    from doremi.data.mixture import FLOOR, make_mixture

    steps = int(cfg.final.max_steps)
    starts = [int(e["step"]) for e in schedule] + [steps]
    average = np.zeros(len(data.domains))
    for entry, begin, end in zip(schedule, starts, starts[1:]):
        average += max(min(end, steps) - begin, 0) * np.array([entry["weights"][d] for d in data.domains])
    average = np.maximum(average, FLOOR * average.sum())
    provenance = {
        "method": name,
        "note": "the average over training steps of an online schedule: the weights changed during the run",
        "schedule": f"{name}/seed-*/schedule.jsonl",
    }
    write_json_atomic(
        folder / name / "schedule-average.json",
        make_mixture(data.domains, (average / average.sum()).tolist(), {}, provenance),
    )
