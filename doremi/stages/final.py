"""stage=final: train the final model on the learned mixture and on baselines; evaluate per domain.

Every mixture trains the same architecture from the same seed for the same number of
steps and batch size (the same token budget); each is evaluated on the same held-out
chunks of every domain.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig

from doremi.files import read_json, write_json_atomic
from doremi.mixture import resolve_mixture, validate_weights
from doremi.stages.common import commit, is_main_process, load_prepared, model_config, say, stage_dir, start
from doremi.stages.reference import fit_lm, save_model


def mixtures_to_train(cfg: DictConfig, data, learned: dict[str, float]) -> dict[str, list[float]]:
    """name -> weights: the learned mixture first, then each baseline, then the reference mixture."""
    tokens = data.token_counts("train")
    out = {"doremi": [learned[d] for d in data.domains]}
    for spec in list(cfg.final.baselines) + [str(cfg.reference.mixture)]:
        name = str(spec).rsplit("/", 1)[-1].removesuffix(".json")
        if name not in out:
            out[name] = resolve_mixture(str(spec), data.domains, tokens, "final.baselines")
    return out


def summarize(history: list[dict]) -> dict:
    last = history[-1]["losses"]
    worst = max(last, key=last.get)
    return {
        "losses": last,
        "perplexity": {d: math.exp(v) for d, v in last.items()},
        "average": sum(last.values()) / len(last),
        "worst": {"domain": worst, "loss": last[worst]},
        "history": [
            {
                "step": h["step"],
                "average": sum(h["losses"].values()) / len(h["losses"]),
                "worst": max(h["losses"].values()),
                "losses": h["losses"],
            }
            for h in history
        ],
    }


def steps_to_reach(history: list[dict], target: float) -> int | None:
    """First evaluated step at which the average held-out loss is at or below `target`."""
    return next((h["step"] for h in history if h["average"] <= target), None)


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    mixture_file = stage_dir(cfg, "proxy") / "mixture.json"
    mixture = read_json(mixture_file, "run stage=proxy first (same run_dir=)")
    learned = validate_weights(mixture["weights"], data.domains, f"{mixture_file}: field 'weights'")
    out = start(cfg, "final")
    if out is None:
        return
    results = {}
    for name, weights in mixtures_to_train(cfg, data, learned).items():
        done = out.tmp / name / "result.json"
        if done.exists():  # trained before an interruption (resume=auto)
            results[name] = read_json(done, "")
            continue
        say(f"[final] training on the {name} mixture")
        module = fit_lm(
            cfg, data, weights, cfg.final, out.tmp / name, f"final:{name}", eval_every=int(cfg.final.eval_every)
        )
        results[name] = {
            "weights": dict(zip(data.domains, weights)),
            "passes": module.passes,
            **summarize(module.eval_history),
        }
        if is_main_process():
            if name == "doremi":
                save_model(out.tmp / "model.pt", module.model, model_config(cfg, data), data, weights)
            write_json_atomic(done, results[name])
    if not is_main_process():
        commit(out)
        return
    doremi_history = results["doremi"]["history"]
    steps = int(cfg.final.max_steps)
    report = {
        "domains": data.domains,
        "budget": {
            "steps": steps,
            "batch_size": int(cfg.final.batch_size),
            "tokens": steps * int(cfg.final.batch_size) * data.seq_len,
        },
        "unit": "nats/token",
        "mixtures": results,
        "doremi_steps_to_baseline": {
            name: steps_to_reach(doremi_history, r["average"]) for name, r in results.items() if name != "doremi"
        },
    }
    write_json_atomic(out.tmp / "eval.json", report)
    commit(out)
    say(f"[final] wrote {out.final / 'eval.json'}")
