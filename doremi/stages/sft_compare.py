"""stage=sft_compare: which SFT set should I fine-tune on? Every method of `sft.compare.methods` side by side.

Each method picks `sft.budget` examples from the same pools (the fixed dev set held out before any of them saw
the pools); each set fine-tunes the same base (sft.base) with the same seeds, in full or with LoRA, as
fingerprinted trials under <run_dir>/trials/ (Hydra's launchers can spread them: sft.compare.trial=i). Every
fine-tuned model is scored per dev example on response tokens and per document on the pretraining held-out
set (forgetting). The design, the verdicts and the decision are the pretraining compare's (doremi.compare.engine): paired intervals against
random (the control: the recommendation's family, Sidak) and stratified, per source, on the average, the worst
source and sft.compare.target. The recommended set is published with its exports and shown first in the report.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, OmegaConf

from doremi.compare import engine
from doremi.compare.sft_sets import SetContestant, Sets, TrialTrainer, dev_history, heldout_history
from doremi.config.errors import DoremiError
from doremi.config.keys import digest
from doremi.data.tokenizer import load_saved
from doremi.outputs.plan import training_flops
from doremi.outputs.report.sft import summary_text
from doremi.pipeline.common import commit, heldout_for, is_main_process, load_prepared, say, start
from doremi.pipeline.sft_sets import check_budget, context, load_base, pools_and_dev, write_jsonl, write_set
from doremi.sft.examples import read_target
from doremi.sft.methods import BASELINES, SetMethod, entries
from doremi.sft.tune import check_lora, encode, steps_of
from doremi.stats import decide
from doremi.store.files import read_json, write_json_atomic


def target_of(cfg: DictConfig, sources: list[str]) -> tuple[str, list[int] | None]:
    value = cfg.sft.compare.target
    if isinstance(value, str):
        return value, None
    unknown = [s for s in value if s not in sources]
    if unknown:
        from doremi.data.mixture import closest

        raise DoremiError(
            f"sft.compare.target names {unknown[0]!r}, not a source of the pools{closest(unknown[0], sources)}"
        )
    return "target", [sources.index(s) for s in value]


def design_of(cfg: DictConfig, distinct: int) -> decide.Design:
    c = cfg.sft.compare
    seeds = [int(cfg.seed) + i for i in range(int(c.seeds))]
    kind = "single" if c.resolution is not None else str(c.design)
    return decide.plan_design(kind, distinct, seeds, int(c.screen_seeds), c.confirm_seeds, int(c.confirm_top))


def run(cfg: DictConfig, runner=None) -> str | None:
    from doremi.pipeline.graph import TABLE, locate, names, stage_dir

    target = read_target(cfg.sft)  # read and checked before anything trains
    methods = aimed(entries(cfg.sft.compare.methods), bool(target), list(cfg.sft.compare.methods))
    for stage in names(TABLE["sft_compare"].runs_first, cfg):  # a first compare on a fresh run_dir is one command
        if not (stage_dir(cfg, stage) / "done.json").is_file() and runner is not None:
            if cfg.sft.compare.get("trial") is not None:
                raise DoremiError(
                    f"sft.compare.trial={cfg.sft.compare.trial}: run `stage=sft_compare sft.compare.trial=-1` once first"
                )
            runner(cfg, stage)
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
    sources = sorted(set(pool) | {ex.source for ex in dev})
    kind, indices = ("target", [0]) if target else target_of(cfg, sources)
    judged, groups = dev, sources
    if target:  # judged on your target alone; a pool chat equal to a target chat is never trained on
        pool, dropped = without(pool, target)
        say(
            f"[sft_compare] your target: {len(target)} examples from {', '.join(map(str, cfg.sft.target.paths))}; "
            f"{dropped} pool example(s) with the same chat dropped; the decision reads it"
        )
        judged, groups = target, ["target"]
    check_budget(cfg, pool)
    pool_key = digest(sorted(ex.id for v in pool.values() for ex in v))
    sets = Sets(cfg, data, pool, base, pool_key, context, write_jsonl, target)
    say_cost(cfg, methods, pool, base[0])
    chosen = {m.name: sets.get(m) for m in methods}
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    length = int(base[0]["model_config"]["seq_len"])
    dev_rows = encode(tokenizer, [ex.to_record() for ex in judged], length)
    heldout = heldout_for(cfg, data)
    trainer = TrialTrainer(cfg, base, dev_rows, heldout, tokenizer, length, digest([ex.id for ex in judged]))
    contestants = [SetContestant(name, examples, record, trainer) for name, (examples, record) in chosen.items()]
    design = design_of(cfg, len(engine.distinct(contestants)))
    if trial is not None:
        return engine.one_trial(contestants, design, int(trial), "sft_compare", "sft.compare.trial")
    say(f"[sft_compare] design: {design.describe()}")
    owner = np.array([groups.index(s) for s in dev_rows.sources])
    tokens = np.asarray(dev_tokens(dev_rows), dtype=np.float64)
    empty = [g for i, g in enumerate(groups) if tokens[owner == i].sum() == 0 and (owner == i).any()]
    if empty:
        raise DoremiError(
            f"sft.dev_size: no response token of the dev set's {', '.join(empty)} examples fits the base model's "
            f"{length} tokens (model.seq_len): every prompt fills it; raise model.seq_len or give shorter chats"
        )
    setup = engine.Setup(
        decide.Documents(groups, owner, tokens), dev_history, kind, indices, int(cfg.seed), BASELINES, "sft_compare"
    )
    outcome = engine.run(contestants, design, setup, (), stein_settings(cfg))
    if not is_main_process():
        commit(out)
        return None
    board = leaderboard(cfg, data, chosen, outcome, setup, heldout, base[0], sources)
    board["dev_set"] = held
    if target:
        board["target"]["external"] = {"paths": [str(p) for p in cfg.sft.target.paths], "examples": len(target)}
    recommended = board["recommendation"]["method"]
    write_set(
        out.tmp / "recommended",
        out.final / "recommended",
        sources,
        chosen[recommended][0],
        dev,
        {
            "method": recommended,
            "recommended_by": "stage=sft_compare",
            "recommendation": board["recommendation"]["line"],
            "cost": chosen[recommended][1]["cost"],
        },
    )
    board["published"] = str(out.final / "recommended")
    write_json_atomic(out.tmp / "leaderboard.json", board)
    commit(out)
    say(f"[sft_compare] wrote {out.final / 'leaderboard.json'}")
    return summary_text(board)


def aimed(methods: list[SetMethod], target: bool, listed: list) -> list[SetMethod]:
    """The methods that can run: without sft.target.paths, `all` leaves out those that select toward a target, and
    naming one is refused in one line."""
    if target:
        return methods
    needing = [m.name for m in methods if m.uses_target]
    if needing and [str(n) for n in listed] != ["all"]:
        raise DoremiError(
            f"sft.compare.methods has {', '.join(needing)}, which select toward your target: give "
            "sft.target.paths=[files of target chats] or leave them out"
        )
    return [m for m in methods if not m.uses_target]


def without(pool: dict, target: list) -> tuple[dict, int]:
    """The pool less every example whose chat is a target example's; how many were dropped."""
    from doremi.sft.examples import same_chat

    seen = {same_chat(ex) for ex in target}
    kept = {s: [ex for ex in v if same_chat(ex) not in seen] for s, v in pool.items()}
    return kept, sum(len(v) for v in pool.values()) - sum(len(v) for v in kept.values())


def dev_tokens(dev_rows) -> np.ndarray:
    """Scored (response) tokens of every dev example, as doremi.sft.tune.response_sums counts them."""
    return np.asarray(dev_rows.masks[:, 1:], dtype=np.float64).sum(axis=1)


def say_cost(cfg: DictConfig, methods: list[SetMethod], pool: dict, base: dict) -> None:
    """The compare's cost before any work: fine-tunes, their steps, and the scoring methods' forward passes."""
    examples = sum(len(v) for v in pool.values())
    batch, steps = steps_of(int(cfg.sft.budget), int(cfg.sft.batch_size), int(cfg.sft.epochs))
    passes = sum(m.passes * examples for m in methods)
    learned = 2 * int(cfg.sft.learn.steps) * sum(m.learns_quotas for m in methods)
    how = f"LoRA r={cfg.sft.lora.r}" if int(cfg.sft.lora.r) else "full fine-tuning"
    design = design_of(cfg, len(methods))
    say(
        f"[sft_compare] {len(methods)} sets ({', '.join(m.name for m in methods)}): up to {design.runs} fine-tunes of "
        f"{steps} steps of {batch} chats ({how}); selection: about {passes:,} base-model forward passes"
        + (f", {learned} fine-tuning steps for learned quotas" if learned else "")
        + (f", {sum(m.fits for m in methods)} classifier fit(s)" if any(m.fits for m in methods) else "")
    )


def stein_settings(cfg: DictConfig) -> dict | None:
    """sft.compare.resolution for the engine's second stage, with the line that states its cost before training."""
    if cfg.sft.compare.resolution is None:
        return None
    resolution, most = float(cfg.sft.compare.resolution), int(cfg.sft.compare.max_seeds)

    def say_cost(plan: dict, need: dict, extra: int) -> None:
        lists = (
            ("out", "out after the pilot"),
            ("documents", "limited by their dev examples"),
            ("unreachable", "not reachable within sft.compare.max_seeds"),
        )
        say(
            f"[sft_compare] sft.compare.resolution={resolution}: the pilot of {int(cfg.sft.compare.seeds)} seeds asks "
            f"for {extra} more fine-tunes" + "".join(f"; {what}: {', '.join(plan[k])}" for k, what in lists if plan[k])
        )

    return {"half_width": resolution, "most": most, "say_cost": say_cost}


def leaderboard(
    cfg, data, chosen, outcome: engine.Outcome, setup: engine.Setup, heldout, base: dict, pool=None
) -> dict:
    groups, kind, indices = setup.docs.groups, setup.key, setup.indices
    sources = pool or groups  # the pools' sources (the judged groups: those, or your target)
    seeds_of = outcome.trials.seeds
    dev_losses = {
        n: {s: group_losses(r["history"][0]["documents"], setup.docs) for s, r in per.items()}
        for n, per in outcome.trials.results.items()
    }
    pre = decide.Documents(data.domains, heldout.doc_domain, heldout.doc_tokens)
    pre_setup = engine.Setup(pre, heldout_history, "average", None, int(cfg.seed), BASELINES, "sft_compare")
    on_pre = engine.judge(engine.as_trials(outcome.raw, outcome.trials.shared, pre_setup), pre_setup)
    before = base_heldout(cfg, base, heldout)
    params = sum(int(np.prod(v.shape)) for v in base["state_dict"].values())
    batch, steps = steps_of(int(cfg.sft.budget), int(cfg.sft.batch_size), int(cfg.sft.epochs))
    one_tune = training_flops(params, steps * batch * int(base["model_config"]["seq_len"]))
    rows = []
    for name, (examples, record) in chosen.items():
        per_seed = dev_losses[name]
        averages = [np.mean(list(losses.values())) for losses in per_seed.values()]
        after = [pre_average(group_losses(r["heldout_documents"], pre)) for r in outcome.raw[name].values()]
        cost = record["cost"]
        flops = 2 * params * int(base["model_config"]["seq_len"]) * cost.get("forward_passes", 0)
        flops += training_flops(
            params,
            cost.get("fine_tune_steps", 0) * int(cfg.sft.learn.batch_size) * int(base["model_config"]["seq_len"]),
        )
        rows.append(
            {
                "method": name,
                "examples": len(examples),
                "sources": {s: sum(ex.source == s for ex in examples) for s in sources},
                "same_models_as": outcome.trials.shared.get(name),
                "seeds": seeds_of[name],
                "cost": {**cost, "flops": flops, "share_of_final_run": flops / one_tune},
                "average": float(np.mean(averages)),
                "losses": {s: float(np.mean([losses[s] for losses in per_seed.values()])) for s in groups},
                "forgetting": {
                    "before": before,
                    "after": float(np.mean(after)),
                    "increase": float(np.mean(after)) - before,
                    "vs": {
                        b: {k: on_pre[name][b]["average"][k] for k in ("difference", "interval", "verdict")}
                        for b in on_pre[name]
                    },
                },
                "vs": outcome.verdicts[name],
                "notes": record.get("notes", {}),
            }
        )
    summary = {
        n: {"seed_sd": engine.seed_sd([np.mean(list(x.values())) for x in dev_losses[n].values()])} for n in dev_losses
    }
    common = engine.finish(rows, outcome, setup, "selection", summary)
    return {
        "kind": "sft",
        "sources": sources,
        "seeds": seeds_of["random"],
        "target": {"kind": kind, "sources": [groups[i] for i in indices] if indices else None},
        "budget": {
            "examples": int(cfg.sft.budget),
            "epochs": int(cfg.sft.epochs),
            "steps": steps,
            "batch_size": batch,
            "flops_per_fine_tune": one_tune,
            "lora": OmegaConf.to_container(cfg.sft.lora, resolve=True) if int(cfg.sft.lora.r) else None,
        },
        "base": str(cfg.sft.base),
        **common,
    }


def group_losses(sums, docs: decide.Documents) -> dict[str, float]:
    """Each group's loss (its documents' summed nats over their tokens) from one evaluation's per-document sums."""
    sums = np.asarray(sums, dtype=np.float64)
    owner, tokens = np.asarray(docs.doc_domain), np.asarray(docs.doc_tokens)
    return {g: float(sums[owner == i].sum() / max(tokens[owner == i].sum(), 1)) for i, g in enumerate(docs.groups)}


def pre_average(losses: dict) -> float:
    return float(np.mean(list(losses.values())))


def base_heldout(cfg, base: dict, heldout) -> float:
    """The base model's average held-out loss over the pretraining domains (before fine-tuning)."""
    from doremi.config import settings
    from doremi.config.settings import TrainerSettings
    from doremi.training.lm import heldout_losses
    from doremi.training.model import build_model
    from doremi.training.train import device_for

    model = build_model(base["model_config"])
    model.load_state_dict(base["state_dict"])
    return pre_average(heldout_losses(model.to(device_for(settings.of(cfg, TrainerSettings))), heldout))
