"""stage=compare: which mixture should I train on? Every method of `compare.methods` side by side.

Each method's mixture is learned (stage=learn, reused when done) or read (a mixture .json), then
trained at the final stage's settings with the same seeds and scored on the same held-out
documents. Each is judged against stratified (uniform) and natural sampling with the paired
intervals of doremi.stats.verdict, on the average, the worst domain and `learn.target`. Methods with
the same weights share their trained models (same weights and seed: the same run).

Writes compare/leaderboard.json (ranked by the target's difference from stratified) and ends
with one recommendation: the cheapest method that beats stratified on the target, or the
statement that none did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, open_dict

from doremi.compare import engine
from doremi.compare.judge import noise_lines
from doremi.compare.mixtures import Candidate, MixtureContestant, history, summaries, target_history, train_seeds
from doremi.config.errors import DoremiError
from doremi.config.settings import seeds_of
from doremi.data.mixture import resolve_mixture
from doremi.data.sources import expand_paths
from doremi.data.target import GROUP, target_for
from doremi.methods import Entry, entries, known, resolve
from doremi.methods.common import final_tokens, target_of
from doremi.outputs.plan import training_flops
from doremi.pipeline.common import commit, heldout_for, is_main_process, load_prepared, model_config, say, start
from doremi.pipeline.graph import locate, producer, require, stage_dir
from doremi.stages import learn
from doremi.stats import decide
from doremi.stats.decide import BASELINES, scale_warning, verdicts_at_scale
from doremi.store.files import read_json, write_json_atomic
from doremi.training.model import count_params


def with_method(cfg: DictConfig, name: str) -> DictConfig:
    derived = cfg.copy()
    with open_dict(derived):
        derived.method = name
    return derived


def mixture_of(cfg: DictConfig, data, entry: Entry, runner) -> dict:
    """The entry's mixture: learned (stage=learn, reused when done) or a mixture file. A trial job (compare.trial)
    learns nothing: parallel jobs would learn the same methods at once."""
    if entry.file:
        weights = resolve_mixture(entry.file, data.domains, data.token_counts("train"), "compare.methods")
        return {
            "weights": dict(zip(data.domains, weights)),
            "provenance": {"method": "file", "source": entry.file, "cost": {"flops": 0.0, "what": "given"}},
        }
    sub = with_method(cfg, entry.name)
    if cfg.compare.get("trial") is None or cfg.compare.trial < 0:
        learn.run(sub, publish=False, runner=runner)
    elif not (producer(sub, "learned_mixture") / "done.json").is_file():
        raise DoremiError(
            f"compare.trial={cfg.compare.trial}: {entry.name}'s mixture is not learned yet; run "
            "`stage=compare compare.trial=-1` once first (it learns every method and lists the trials)"
        )
    return read_json(require(sub, "learned_mixture", "compare"), "")  # checked against what stage=learn recorded


def design_of(cfg: DictConfig, distinct: int) -> decide.Design:
    """compare.design at this compare's size (compare.resolution: Stein's pilot, one stage of judging)."""
    if cfg.compare.resolution:
        return decide.plan_design("single", distinct, [int(cfg.seed) + i for i in range(int(cfg.compare.pilot_seeds))])
    c = cfg.compare
    return decide.plan_design(
        str(c.design), distinct, seeds_of(cfg, "final.seeds"), int(c.screen_seeds), c.confirm_seeds, int(c.confirm_top)
    )


def run(cfg: DictConfig, runner=None) -> str | None:
    for pattern in (cfg.target.paths or []) if cfg.get("target") is not None else []:  # before anything runs
        expand_paths(str(pattern), "target.paths")
    if not (stage_dir(cfg, "prepare") / "done.json").is_file():  # a first comparison is one command
        if cfg.compare.get("trial") is not None and cfg.compare.trial >= 0:
            raise DoremiError(f"compare.trial={cfg.compare.trial}: run `stage=compare compare.trial=-1` once first")
        runner(cfg, "prepare")
    rows = entries(cfg.compare.methods)
    rows += [Entry(b, method=resolve(b)) for b in BASELINES if b not in [e.name for e in rows]]
    data = load_prepared(cfg)
    kind, indices = target_of(cfg, data.domains)
    if kind == "external" and not any(e.method and "learn.target" in e.method.settings for e in rows):
        joining = [m for m in (resolve(n) for n in known()) if m.joins_target]
        say(
            f"[compare] your target: no listed method aims at it; {', '.join(m.name for m in joining)} join(s) the "
            "compare (list methods to choose)"
        )
        rows += [Entry(m.name, method=m) for m in joining]
    target = target_for(cfg, data)  # read, checked and deduplicated before anything trains
    if target is not None:
        said = target.describe()
        say(
            f"[compare] your target: {said['documents']} documents, {said['tokens']:,} tokens from "
            f"{', '.join(target.paths)}; {target.overlapped} of {target.read} dropped as training documents"
            + ("; the decision reads it" if kind == "external" else f"; scored beside learn.target={kind}")
        )
    mixtures = {}
    for entry in rows:
        say(
            f"[compare] {entry.name}: learning its mixture" if entry.method else f"[compare] {entry.name}: {entry.file}"
        )
        mixtures[entry.name] = mixture_of(cfg, data, entry, runner)
    candidates = [
        Candidate(
            name,
            [float(m["weights"][d]) for d in data.domains],
            m["provenance"].get("online"),
            m["provenance"].get("method"),
        )
        for name, m in mixtures.items()
    ]
    heldout = heldout_for(cfg, data)
    trial = cfg.compare.get("trial")
    publish = {"recommended.json": Path(cfg.mixtures_dir) / f"{cfg.name}.json"} if cfg.compare.publish else None
    out = None if trial is not None else start(cfg, "compare", publish=publish)
    if trial is None and out is None:
        return summary_text(read_json(locate(cfg, "leaderboard"), ""))
    folder = out.tmp if out is not None else stage_dir(cfg, "compare")
    contestants = [MixtureContestant(cfg, data, c, heldout, folder, target=target) for c in candidates]
    design = design_of(cfg, len(engine.distinct(contestants)))
    if trial is not None:
        return engine.one_trial(contestants, design, int(trial), "compare", "compare.trial")
    one_run = training_flops(count_params(model_config(cfg, data)), final_tokens(cfg, data))
    say(f"[compare] design: {design.describe()}; {design.runs * one_run:.3g} FLOPs")
    fitted = [n for n, m in mixtures.items() if m["provenance"].get("fit")]
    if kind == "external":  # judged on the target's documents alone: one group, its loss the target statistic
        docs = decide.Documents([GROUP], target.heldout.doc_domain, target.heldout.doc_tokens)
        setup = engine.Setup(docs, target_history, "target", [0], int(cfg.seed), split=bool(fitted))
    else:
        docs = decide.Documents(data.domains, heldout.doc_domain, heldout.doc_tokens)
        setup = engine.Setup(docs, history, kind, indices, int(cfg.seed), split=bool(fitted))
    untrusted = [n for n, m in mixtures.items() if m["provenance"].get("fit", {}).get("warning")]
    outcome = engine.run(contestants, design, setup, untrusted, stein_settings(cfg, one_run))
    if not is_main_process():
        commit(out)
        return None
    board = leaderboard(cfg, data, mixtures, outcome, setup, heldout, target)
    if cfg.compare.check_scale:
        board["scale_check"] = scale_check(cfg, data, board, candidates, outcome.trials, heldout, out.tmp / "scale")
    if publish:
        board["published"] = str(publish["recommended.json"])
    write_json_atomic(out.tmp / "leaderboard.json", board)
    write_json_atomic(out.tmp / "recommended.json", recommended_mixture(data, mixtures, board))
    commit(out)
    say(f"[compare] wrote {out.final / 'leaderboard.json'}")
    return summary_text(board)


def stein_settings(cfg: DictConfig, one_run: float) -> dict | None:
    """compare.resolution for the engine's second stage, with the line that states its cost before training."""
    if not cfg.compare.resolution:
        return None
    resolution, most = float(cfg.compare.resolution), int(cfg.compare.max_seeds)

    def say_cost(plan: dict, need: dict, extra: int) -> None:
        lists = (
            ("out", "out after the pilot (worse than stratified)"),
            ("documents", "limited by their held-out documents (more seeds cannot narrow them; they keep the pilot's)"),
            ("unreachable", f"not reachable within compare.max_seeds={most}"),
        )
        say(
            f"[compare] compare.resolution={resolution}: the pilot of {int(cfg.compare.pilot_seeds)} seeds asks for "
            + ", ".join(f"{n} {k}" for n, k in need.items())
            + f" seeds: {extra} more final runs, {extra * one_run:.3g} FLOPs"
            + "".join(f"; {what}: {', '.join(plan[key])}" for key, what in lists if plan[key])
        )

    return {"half_width": resolution, "most": most, "say_cost": say_cost}


def leaderboard(cfg, data, mixtures, outcome: engine.Outcome, setup: engine.Setup, heldout, target=None) -> dict:
    domains = data.domains
    one_run = training_flops(count_params(model_config(cfg, data)), final_tokens(cfg, data))
    summary, warnings = summaries(cfg, domains, outcome.raw, heldout, "compare")
    rows = []
    for name, mixture in mixtures.items():
        flops = float(mixture["provenance"].get("cost", {}).get("flops", 0.0))
        rows.append(
            {
                "method": name,
                "source": mixture["provenance"].get("source"),
                "same_models_as": outcome.trials.shared.get(name),
                "seeds": outcome.trials.seeds[name],
                "weights": mixture["weights"],
                "cost": {"flops": flops, "share_of_final_run": flops / one_run},
                "average": summary[name]["average"],
                "worst": summary[name]["worst"],
                **({"target_loss": target_mean(outcome.raw[name])} if target is not None else {}),
                "epochs": summary[name]["passes"],
                "vs": {b: v for b, v in outcome.verdicts[name].items() if b in BASELINES},
                "notes": notes_of(mixture["provenance"], outcome.raw[name]),
            }
        )
    common = engine.finish(rows, outcome, setup, "sampling", summary)
    spread = target_spread(rows, domains) if target is not None else None
    fitted = [n for n, m in mixtures.items() if m["provenance"].get("fit")]
    if fitted:  # the swarm scores its runs on the screen's quarter (stage=swarm); the decision never reads it
        common["design"]["fits_scored_on"] = {
            "methods": fitted,
            "documents": "the screen's quarter",
            "decided_on": "the other three quarters",
        }
    if outcome.stein:
        common["resolution"] = {**outcome.stein, "extra_flops": outcome.stein["extra_runs"] * one_run}
    return {
        "domains": domains,
        "seeds": outcome.trials.seeds["stratified"],
        "target": {
            "kind": setup.key,
            "domains": [domains[i] for i in setup.indices] if setup.indices and target is None else None,
            **(
                {
                    "external": target.describe(),
                    "decided_on": setup.key == "target" and setup.docs.groups == [GROUP],
                    "spread": spread,
                }
                if target is not None
                else {}
            ),
        },
        "budget": {
            "steps": int(cfg.final.max_steps),
            "batch_size": int(cfg.final.batch_size),
            "tokens": final_tokens(cfg, data),
            "flops_per_run": one_run,
        },
        "heldout": heldout.describe(),
        "mixtures": summary,
        "repetition_warnings": warnings,
        **common,
    }


def target_spread(rows: list[dict], domains: list[str]) -> dict:
    """How much the mixtures moved your target's loss: its range over the trained mixtures, and per domain the slope
    of the target's loss on that domain's weight across them (least squares; nats/token per unit of weight): a
    target no mixture moves (flat slopes, a range within the noise) is why nothing beats stratified on it."""
    trained = [r for r in rows if not r.get("same_models_as")]
    losses = np.array([r["target_loss"] for r in trained])
    weights = np.array([[r["weights"][d] for d in domains] for r in trained])
    slopes = {}
    for i, d in enumerate(domains):
        spread = weights[:, i] - weights[:, i].mean()
        if float((spread**2).sum()) > 1e-12:
            slopes[d] = float((spread * (losses - losses.mean())).sum() / (spread**2).sum())
    return {"low": float(losses.min()), "high": float(losses.max()), "range": float(np.ptp(losses)), "slopes": slopes}


def target_mean(per_seed: dict) -> float:
    """A mixture's loss on the user's target, averaged over its seeds."""
    return float(np.mean([r["target"]["loss"] for r in per_seed.values()]))


def scale_check(cfg, data, board: dict, candidates, trials: decide.Trials, heldout, folder: Path) -> dict:
    """Does the small-scale decision hold at a larger size? Stratified, natural, the recommended method and the
    compare.check_top best methods retrained with the model preset compare.check_scale and the compare's first
    compare.check_seeds seeds (as fingerprinted trials: a rerun reuses them); the share of pairs decided the
    same way at both sizes (DataDecide's decision accuracy) and the rank correlation, both from point estimates
    (shared with the swarm's check), and each method's verdict against stratified at the larger size, with the
    compare's statistics: the warning rests on those, not on point estimates within the noise."""
    from doremi.methods.swarm.fits import decision_agreement, quality
    from doremi.methods.swarm.runs import target_values
    from doremi.stages.swarm import larger_model

    larger = larger_model(str(cfg.compare.check_scale), "compare.check_scale")
    kind, indices = target_of(cfg, data.domains)
    recommended = board["recommendation"]["method"]
    ranked = [r["method"] for r in board["rows"] if r["method"] not in BASELINES and not r.get("same_models_as")]
    chosen = ["stratified", "natural", *ranked[: int(cfg.compare.check_top)]]
    chosen += [recommended] if recommended not in chosen else []
    seeds = trials.seeds["stratified"][: int(cfg.compare.check_seeds)]
    derived = cfg.copy()
    with open_dict(derived):
        for key, value in larger.items():
            derived.model[key] = value
    by_name = {c.name: c for c in candidates}

    def target(per_seed: dict) -> float:
        losses = np.array([[per_seed[s]["history"][-1]["losses"][d] for d in data.domains] for s in seeds])
        return float(target_values(losses, kind, indices).mean())

    results = {}
    for name in chosen:
        say(f"[compare] scale check ({cfg.compare.check_scale}): {name}")
        results[name] = train_seeds(derived, data, by_name[name], seeds, heldout, folder, shared_trials=True)
    small = {n: target(trials.results[n]) for n in chosen}
    large = {n: target(results[n]) for n in chosen}
    s_arr, l_arr = np.array([small[n] for n in chosen]), np.array([large[n] for n in chosen])
    at_larger = verdicts_at_scale(results, seeds, heldout, data.domains, kind, indices, int(cfg.seed))
    out = {
        "preset": str(cfg.compare.check_scale),
        "seeds": seeds,
        "methods": chosen,
        "small": small,
        "large": large,
        "decision_agreement": decision_agreement(s_arr, l_arr),
        "spearman": quality(l_arr, s_arr)["spearman"],
        "recommended": recommended,
        "best_large": chosen[int(l_arr.argmin())],
        "at_larger": at_larger,
    }
    say(
        f"[compare] scale check ({out['preset']}): {out['decision_agreement']:.0%} of pairs decided alike, rank "
        f"correlation {out['spearman']:.3f} (point estimates); best at the larger size: {out['best_large']}"
    )
    warning = scale_warning(recommended, at_larger, out["preset"], len(seeds))
    if warning:
        out["warning"] = warning
        say(f"[compare] warning: {warning}")
    return out


def recommended_mixture(data, mixtures: dict, board: dict) -> dict:
    """The recommended method's mixture file (published as mixtures/<name>.json), its provenance saying so."""
    from doremi.data.mixture import FLOOR, make_mixture

    name = board["recommendation"]["method"]
    mixture = mixtures[name]
    weights = [max(float(mixture["weights"][d]), FLOOR) for d in data.domains]
    weights = [w / sum(weights) for w in weights]
    baselines = {k: list(v.values()) for k, v in mixture.get("baseline_weights", {}).items()}
    provenance = {
        **mixture["provenance"],
        "recommended_by": "stage=compare",
        "recommendation": board["recommendation"]["line"],
    }
    return make_mixture(data.domains, weights, baselines, provenance)


def notes_of(provenance: dict, per_seed: dict) -> dict:
    """What else a reader of the leaderboard wants per method: a fit's quality on held-out swarm runs, its scale
    check, an online method's time inside its callback."""
    notes = {}
    fit = provenance.get("fit")
    if fit:
        notes["fit"] = {k: fit[k] for k in ("spearman", "mae", "runs", "warning") if k in fit}
    if provenance.get("scale_check"):
        notes["scale_check"] = {
            k: provenance["scale_check"][k] for k in ("preset", "spearman", "best_small", "best_large")
        }
    seconds = [r.get("online_seconds") for r in per_seed.values() if r.get("online_seconds") is not None]
    if seconds:
        train = sum(r["seconds"] for r in per_seed.values())
        notes["online_share_of_training_time"] = sum(seconds) / max(train, 1e-9)
    return notes


def summary_text(board: dict) -> str:
    """The leaderboard as printed at the end of stage=compare."""
    from doremi.outputs.report.tables import leaderboard_table, plain_table

    lines = ["", *plain_table(*leaderboard_table(board)), ""]
    if board.get("caveat"):
        lines.append(f"Note: {board['caveat']}.")
    lines += [f"warning: {w}" for w in board.get("repetition_warnings", [])]
    lines += noise_lines(board)
    spread = board.get("target", {}).get("spread")
    if spread:
        steep = max(spread["slopes"].items(), key=lambda x: abs(x[1]), default=None)
        lines.append(
            f"Your target's loss over the mixtures: {spread['low']:.4f} to {spread['high']:.4f} (a range of "
            f"{spread['range']:.4f} nats/token)"
            + (f"; steepest per unit of a domain's weight: {steep[0]} {steep[1]:+.3f}" if steep else "")
        )
    lines.append(board["recommendation"]["line"])
    if board.get("published"):
        lines.append(f"published: {board['published']} (the recommended mixture, for other trainers to import)")
    return "\n".join(lines)


def leaderboard_path(cfg: DictConfig) -> Path:
    return locate(cfg, "leaderboard")
