"""The verdicts of stage=compare: every method against stratified and natural on the seeds both trained, each
pair with its own seed variance and the family of comparisons behind the recommendation held together
(doremi.stats.decide, doremi.stats.family); compare.resolution's second stage (Stein); the run's noise floor."""

from __future__ import annotations

from pathlib import Path

from doremi.methods.common import final_tokens
from doremi.outputs.plan import training_flops
from doremi.stages.common import model_config, say
from doremi.stages.trials import train_seeds
from doremi.stats import verdict
from doremi.stats.decide import BASELINES, Trials, judging, recommend, stein_plan  # noqa: F401  (the compare's statistics)
from doremi.training.model import count_params


def second_stage(cfg, data, candidates, trials: Trials, heldout, target, folder: Path) -> dict:
    """compare.resolution: Stein's two stages. The pilot's noise gives each method still in contention
    the seeds that bring its interval against stratified to the resolution (methods whose pilot interval lies
    above 0 are out and get none); the cost is stated, then the missing seeds are trained."""
    key, indices = target
    resolution, pilot_n, most = (
        float(cfg.compare.resolution),
        len(next(iter(trials.seeds.values()))),
        int(cfg.compare.max_seeds),
    )
    steps = [h["step"] for h in next(iter(trials.results["stratified"].values()))["history"]]
    pilot = judging(cfg, data, trials, steps, heldout, indices)
    contenders = [
        n for n in pilot if "stratified" in pilot[n] and n != "stratified" and trials.shared.get(n) != "stratified"
    ]
    plan = stein_plan(pilot, contenders, key, resolution, pilot_n, most)
    need, out, unreachable, documents = plan["need"], plan["out"], plan["unreachable"], plan["documents"]
    for name, source in trials.shared.items():  # a method sharing another's models needs them trained
        need[source] = max(need.get(source, pilot_n), need.get(name, pilot_n))
    trained = [c for c in candidates if c.name not in trials.shared]
    extra = sum(max(need.get(c.name, pilot_n) - pilot_n, 0) for c in trained)
    one_run = training_flops(count_params(model_config(cfg, data)), final_tokens(cfg, data))
    say(
        f"[compare] compare.resolution={resolution}: the pilot of {pilot_n} seeds asks for "
        + ", ".join(f"{n} {need.get(n, pilot_n)}" for n in [c.name for c in trained])
        + f" seeds: {extra} more final runs, {extra * one_run:.3g} FLOPs"
        + (f"; out after the pilot (worse than stratified): {', '.join(out)}" if out else "")
        + (
            f"; limited by their held-out documents (more seeds cannot narrow them; they keep the pilot's): {', '.join(documents)}"
            if documents
            else ""
        )
        + (f"; not reachable within compare.max_seeds={most}: {', '.join(unreachable)}" if unreachable else "")
    )
    first = int(cfg.seed)
    for candidate in trained:
        n = need.get(candidate.name, pilot_n)
        if n > pilot_n:
            seeds = list(range(first, first + n))
            trials.results[candidate.name] = train_seeds(
                cfg, data, candidate, seeds, heldout, folder, shared_trials=True
            )
            trials.seeds[candidate.name] = seeds
    for name, source in trials.shared.items():
        trials.results[name], trials.seeds[name] = trials.results[source], trials.seeds[source]
    return {
        "resolution": resolution,
        "pilot_seeds": pilot_n,
        "seeds": {n: len(s) for n, s in trials.seeds.items()},
        "out_after_pilot": out,
        "unreachable": unreachable,
        "limited_by_documents": documents,
        "extra_runs": extra,
        "extra_flops": extra * one_run,
        "pilot": {n: verdict.pilot_noise(pilot[n]["stratified"]) for n in contenders},
    }


def noise_floor(rows: list[dict], summary: dict, key: str, control: str = "stratified") -> dict:
    """What limits this run's resolution: each mixture's seed standard deviation of its average loss, and per
    method against stratified the paired seed standard deviation of the target, the term that dominates its
    interval (seeds or held-out documents) and the smallest difference it could detect (the half-width)."""
    pairs = {}
    for row in rows:
        judged = row["vs"].get(control, {}).get(key)
        if judged and row.get("same_models_as") != control:
            noise = judged["noise"]
            pairs[row["method"]] = {
                "paired_sd": noise["seed_sd"],
                "moderated_sd": noise["seed_sd_used"],  # the name of 0.4.0, kept: the seed SD the interval used
                "df": noise["df"],
                "dominant": noise["dominant"],
                "se_documents": noise["se_documents"],
                "df_documents": noise["df_documents"],
                "detects": judged["half_width"],
            }
    halves = sorted(p["detects"] for p in pairs.values())
    return {
        "seed_sd": {name: s["seed_sd"] for name, s in summary.items()},
        "pairs": pairs,
        "median_detects": halves[len(halves) // 2] if halves else None,
    }


def noise_lines(board: dict) -> list[str]:
    """The run's noise floor in words: what a verdict here can and cannot see, and what limits it."""
    noise, out = board.get("noise"), []
    if not noise or not noise["pairs"]:
        return out
    pairs = noise["pairs"]
    by_seeds = sum(p["dominant"] == "seeds" for p in pairs.values())
    control = board.get("control", "stratified")
    sd = noise["seed_sd"].get(control, 0.0)
    out.append(
        f"Noise: {control}'s average loss varies by {sd:.4f} nats/token between seeds; paired against it, methods "
        f"vary by {min(p['paired_sd'] for p in pairs.values()):.4f} to {max(p['paired_sd'] for p in pairs.values()):.4f}; "
        f"seeds dominate {by_seeds} of {len(pairs)} intervals (else held-out documents); the median interval "
        f"detects ±{noise['median_detects']:.4f} with {len(pairs)} comparisons held together (Sidak)."
    )
    check = board.get("scale_check")
    if check:
        judged = check.get("at_larger", {})
        out.append(
            f"Scale check ({check['preset']}, seeds {check['seeds']}): {check['decision_agreement']:.0%} of the pairs of "
            f"{', '.join(check['methods'])} decided alike, rank correlation {check['spearman']:.3f} (point estimates); "
            f"best at the larger size: {check['best_large']}; against stratified there: "
            + ", ".join(
                f"{n} {v['difference']:+.4f} [{v['interval'][0]:+.4f}, {v['interval'][1]:+.4f}] {v['verdict']}"
                for n, v in judged.items()
            )
            + (f"; warning: {check['warning']}" if check.get("warning") else "")
        )
    stein = board.get("resolution")
    if stein:
        reached = [n for n, p in pairs.items() if p["detects"] <= stein["resolution"] + 1e-12]
        out.append(
            f"compare.resolution={stein['resolution']}: pilot of {stein['pilot_seeds']} seeds, then "
            + ", ".join(f"{n} {k}" for n, k in stein["seeds"].items())
            + f" seeds ({stein['extra_runs']} more final runs, {stein['extra_flops']:.3g} FLOPs); reached by "
            + f"{len(reached)} of {len(pairs)} comparisons"
            + (
                f"; not reachable within compare.max_seeds: {', '.join(stein['unreachable'])}"
                if stein["unreachable"]
                else ""
            )
            + (
                f"; limited by held-out documents (pilot seeds kept): {', '.join(stein['limited_by_documents'])}"
                if stein.get("limited_by_documents")
                else ""
            )
        )
    return out
