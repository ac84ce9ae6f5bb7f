"""stage=final: train final models on the candidate mixture and on baselines, several seeds
each; score them on the same held-out documents; judge the candidate against every baseline.

The candidate is the learned mixture (learn/<method>/mixture.json, or DoReMi's proxy/mixture.json
from a bare stage=proxy), or any mixture file given as
`final.mixture=<file>`. Every mixture trains the same architecture for the same steps and
batch size (the same token budget) with each seed of `final.seeds`; seed s gives every
mixture the same initialization. Each model is scored every `final.eval_every` steps on the
held-out set of doremi.data.heldout (whole splits, or `final.eval_chunks` sequences per
domain spread over the split), per document, so that doremi.verdict can put an interval on
every difference.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from doremi import verdict
from doremi.data.heldout import HeldOut
from doremi.files import read_json, write_json_atomic
from doremi.mixture import resolve_mixture, validate_weights
from doremi.settings import seeds_of
from doremi.stages.common import (
    commit,
    heldout_for,
    is_main_process,
    load_prepared,
    say,
    start,
)
from doremi.stages.graph import locate, method_of
from doremi.stages.lm import fit_lm, save_hf_beside, save_lm, trained


def candidate_mixture(cfg: DictConfig, data) -> tuple[str, list[float], dict | None]:
    """(name, weights, online settings) of the mixture under test: final.mixture, else the learned one (whose
    provenance names its method and, for an online method, the settings its weights change by in training)."""
    chosen = cfg.final.get("mixture")
    if chosen:
        weights = resolve_mixture(str(chosen), data.domains, data.token_counts("train"), "final.mixture")
        return Path(str(chosen)).name.removesuffix(".json"), weights, None
    mixture_file = locate(cfg, "learned_mixture")
    mixture = read_json(
        mixture_file,
        f"run stage=learn method={method_of(cfg)} first (same run_dir=), or name a mixture with final.mixture=",
    )
    learned = validate_weights(mixture["weights"], data.domains, f"{mixture_file}: field 'weights'")
    provenance = mixture.get("provenance", {})
    name = str(provenance.get("method") or method_of(cfg))
    return name, [learned[d] for d in data.domains], provenance.get("online")


def mixtures_to_train(cfg: DictConfig, data, candidate: tuple) -> dict[str, list[float]]:
    """name -> weights: the candidate first, then each baseline, then the reference mixture."""
    tokens = data.token_counts("train")
    out = {candidate[0]: candidate[1]}
    for spec in list(cfg.final.baselines) + [str(cfg.reference.mixture)]:
        name = str(spec).rsplit("/", 1)[-1].removesuffix(".json")
        if name not in out:
            out[name] = resolve_mixture(str(spec), data.domains, tokens, "final.baselines")
    return out


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
    return {
        "losses": losses,
        "spread": dict(zip(domains, verdict.spread(final).tolist())),  # standard deviation over seeds
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


def train_one(cfg, data, name, weights, seed, heldout, where: Path, save_to: Path | None, online=None) -> dict:
    """Train and score one mixture with one seed; its result (history with per-document sums). With `online`
    (an online method's settings) the weights change as the model trains: where/schedule.jsonl."""
    started = time.perf_counter()
    callbacks = [online_callback(online, data, where)] if online else None
    module = fit_lm(
        cfg, data, weights, cfg.final, where, f"final:{name}:seed-{seed}", int(cfg.final.eval_every), heldout, seed,
        callbacks=callbacks,
    )  # fmt: skip
    result = {
        "seed": seed,
        "weights": dict(zip(data.domains, weights)),
        "passes": module.passes,
        "history": module.eval_history,
        "seconds": time.perf_counter() - started,
        "eval_seconds": module.eval_seconds,
    }
    if callbacks:
        result["schedule"] = callbacks[0].schedule
        result["online_seconds"] = callbacks[0].seconds
    model = trained(module, cfg, data)
    if save_to is not None:
        save_lm(save_to, model, cfg, data, weights)
    save_hf_beside(cfg, model, where / "hf", data)  # every mixture and seed
    if is_main_process():
        write_json_atomic(where / "result.json", result)
    return result


def train_seeds(cfg, data, name, weights, seeds, heldout, folder: Path, save_to=None, online=None) -> dict[int, dict]:
    """Every seed of one mixture under folder/<name>/seed-<s>/, reusing seeds trained before an interruption
    (resume=auto); `save_to`: where the first seed's model.pt goes."""
    stage = folder.name.removesuffix(".partial")
    out = {}
    for seed in seeds:
        where = folder / name / f"seed-{seed}"
        if (where / "result.json").exists():
            out[seed] = read_json(where / "result.json", "")
            continue
        say(f"[{stage}] training on the {name} mixture, seed {seed}")
        out[seed] = train_one(
            cfg, data, name, weights, seed, heldout, where, save_to if seed == seeds[0] else None, online
        )
    return out


def schedule_average(cfg: DictConfig, data, name: str, schedule: list[dict], folder: Path) -> None:
    """<name>/schedule-average.json: an online schedule's weights averaged over the steps they were used (first
    seed), as a mixture file, for trainers that take one mixture (export it like any other)."""
    from doremi.mixture import make_mixture

    steps = int(cfg.final.max_steps)
    starts = [int(e["step"]) for e in schedule] + [steps]
    average = np.zeros(len(data.domains))
    for entry, begin, end in zip(schedule, starts, starts[1:]):
        average += max(min(end, steps) - begin, 0) * np.array([entry["weights"][d] for d in data.domains])
    average = np.maximum(average, 1e-9 * average.sum())
    provenance = {
        "method": name,
        "note": "the average over training steps of an online schedule: the weights changed during the run",
        "schedule": f"{name}/seed-*/schedule.jsonl",
    }
    write_json_atomic(
        folder / name / "schedule-average.json",
        make_mixture(data.domains, (average / average.sum()).tolist(), {}, provenance),
    )


def online_callback(online: dict, data, where: Path):
    """The callback of an online method (doremi.lit.online), writing where/schedule.jsonl."""
    from doremi.lit.online import OnlineMixing, read_schedule

    replay = read_schedule(Path(online["replay"])) if online.get("replay") else None
    return OnlineMixing(
        data.domains, int(online["every"]), float(online["smoothing"]), where / "schedule.jsonl", replay
    )


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    candidate = candidate_mixture(cfg, data)
    seeds = seeds_of(cfg, "final.seeds")
    out = start(cfg, "final")
    if out is None:
        return verdict_summary(read_json(locate(cfg, "final_eval"), ""))
    heldout = heldout_for(cfg, data)
    described = heldout.describe()
    say(
        f"[final] {len(seeds)} seed(s) per mixture, scored on {sum(described['sequences'].values())} held-out "
        f"sequences ({heldout.documents} documents{', whole splits' if described['whole_split'] else ''})"
    )
    results: dict[str, dict[int, dict]] = {}
    online = candidate[2]
    for name, weights in mixtures_to_train(cfg, data, candidate).items():
        mine = name == candidate[0]
        save_to = out.tmp / "model.pt" if mine else None
        results[name] = train_seeds(
            cfg, data, name, weights, seeds, heldout, out.tmp, save_to, online if mine else None
        )
    if not is_main_process():
        commit(out)
        return
    if online:
        schedule_average(cfg, data, candidate[0], results[candidate[0]][seeds[0]]["schedule"], out.tmp)
    evaluated = evaluation(cfg, data, candidate[0], seeds, heldout, results)
    write_json_atomic(out.tmp / "eval.json", evaluated)
    commit(out)
    say(f"[final] wrote {out.final / 'eval.json'}")
    return verdict_summary(evaluated)


def verdict_summary(evaluated: dict) -> str:
    """What stage=final prints when run alone: the candidate's verdict lines and the repetition warnings."""
    from doremi.report.document import verdict_lines

    lines = [line.replace("**", "") for line in verdict_lines(evaluated)]
    lines += [f"warning: {w}" for w in evaluated.get("repetition_warnings", [])]
    return "\n".join(lines)


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


def evaluation(cfg, data, candidate: str, seeds: list[int], heldout: HeldOut, results: dict) -> dict:
    """eval.json: every mixture's losses (mean and per seed) and the candidate's verdicts."""
    domains = data.domains
    bytes_per_token = heldout.bytes_per_token()
    sums = {
        name: np.array([[h["documents"] for h in per_seed[s]["history"]] for s in seeds])
        for name, per_seed in results.items()
    }
    steps = [h["step"] for h in results[candidate][seeds[0]]["history"]]
    comparison = verdict.compare(
        sums, candidate, heldout.doc_domain, heldout.doc_tokens, steps, domains, seed=int(cfg.seed)
    )
    train_seconds = sum(r["seconds"] for per_seed in results.values() for r in per_seed.values())
    eval_seconds = sum(r["eval_seconds"] for per_seed in results.values() for r in per_seed.values())
    budget_steps = int(cfg.final.max_steps)
    mixtures = {name: summarize(per_seed, domains, bytes_per_token) for name, per_seed in results.items()}
    warnings = repetition_warnings(mixtures, cfg.plan.max_epochs)
    for warning in warnings:
        say(f"[final] warning: {warning}")
    return {
        "domains": domains,
        "budget": {
            "steps": budget_steps,
            "batch_size": int(cfg.final.batch_size),
            "tokens": budget_steps * int(cfg.final.batch_size) * data.seq_len,
        },
        "unit": "nats/token",
        "candidate": candidate,
        "seeds": seeds,
        "heldout": {**heldout.describe(), "bytes_per_token": bytes_per_token},
        "mixtures": mixtures,
        "repetition_warnings": warnings,
        "comparison": comparison,
        "doremi_steps_to_baseline": {
            name: (round(budget_steps / c["speedup"]["factor"]) if c["speedup"]["factor"] else None)
            for name, c in comparison["baselines"].items()
        },
        "time": {
            "training_seconds": train_seconds,
            "evaluation_seconds": eval_seconds,
            "evaluation_share": eval_seconds / max(train_seconds, 1e-9),
        },
    }
