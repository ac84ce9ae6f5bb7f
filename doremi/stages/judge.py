"""The verdicts of stage=compare: every method against stratified and natural on the seeds both trained, with
seed variances moderated over the run and the family of comparisons behind the recommendation held together
(doremi.family); compare.resolution's second stage (Stein); the run's noise floor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doremi import family as family_stats
from doremi import verdict
from doremi.model import build_model
from doremi.plan import training_flops
from doremi.stages.common import model_config, say
from doremi.stages.methods.common import final_tokens
from doremi.stages.trials import document_sums, train_seeds

BASELINES = ("stratified", "natural")


@dataclass
class Trials:
    """What the compare trained: {method: {seed: result}}, the methods sharing another's models, each method's seeds."""

    results: dict
    shared: dict
    seeds: dict


def judging(cfg, data, trials: Trials, steps, heldout, indices, stein: dict | None = None,
            baselines: tuple[str, str] = BASELINES) -> dict:  # fmt: skip
    """{method: {baseline: its verdicts}}: every method against each of `baselines` (the control the
    recommendation picks against first: stratified and natural for mixtures, random and stratified for SFT sets)
    on the seeds both trained, with seed variances moderated over all the run's comparisons against that baseline
    (doremi.family), and the comparisons against the control widened for their family (Sidak). With `stein`
    (compare.resolution), the comparisons against the control take their variance from the pilot.

    `data` needs `domains` (the groups of documents: domains, or an SFT dev set's sources) and `heldout` the
    documents' `doc_domain` and `doc_tokens`; `trials.results[name][seed]["history"]` the per-document sums."""
    shared = trials.shared
    control = baselines[0]

    def one(name, baseline, priors=None, family=1, fixed=None, **bootstrap):
        common = [s for s in trials.seeds[name] if s in trials.seeds[baseline]]
        sums = document_sums({n: trials.results[n] for n in (name, baseline)}, common)
        return verdict.compare(
            sums, name, heldout.doc_domain, heldout.doc_tokens, steps, data.domains, seed=int(cfg.seed),
            target=indices, priors=priors, family=family, fixed=fixed, **bootstrap,
        )["baselines"][baseline]  # fmt: skip

    out: dict[str, dict] = {name: {} for name in trials.results}
    for baseline in baselines:
        judged = [n for n in out if n != baseline and shared.get(n) != baseline and shared.get(baseline) != n]
        family = len(judged) if baseline == control else 1
        pilots = (stein or {}).get("pilot", {}) if baseline == control else {}
        # the prior needs only each pair's seed variance, which the documents' bootstrap does not change
        first = {n: one(n, baseline, replicates=2) for n in judged if n not in pilots}
        priors = verdict.fit_priors([{"seeds": len(trials.seeds[n]), "baselines": {baseline: c}} for n, c in first.items()], baseline, data.domains)  # fmt: skip
        for n in out:
            if n == baseline:
                continue
            if n in pilots:
                out[n][baseline] = one(n, baseline, family=family, fixed=pilots[n])
            elif n in judged:
                out[n][baseline] = one(n, baseline, priors, family)
            else:
                out[n][baseline] = one(n, baseline)
    return out


def second_stage(cfg, data, candidates, trials: Trials, heldout, target, folder: Path) -> dict:
    """compare.resolution: Stein's two stages. The pilot's moderated noise gives each method still in contention
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
    need, out, unreachable = {}, [], []
    for name in contenders:
        judged = pilot[name]["stratified"][key]
        if judged["interval"][0] > 0:
            need[name] = pilot_n
            out.append(name)
            continue
        noise = judged["noise"]
        n = family_stats.stein_seeds(
            noise["seed_sd_used"], noise["df"], resolution, pilot_n, family=max(len(contenders), 1),
            docs_se=noise["se_documents"], docs_df=noise["df_documents"], most=most,
        )  # fmt: skip
        if n is None:
            unreachable.append(name)
        need[name] = n or most
    need["stratified"] = max(need.values(), default=pilot_n)
    for name, source in trials.shared.items():  # a method sharing another's models needs them trained
        need[source] = max(need.get(source, pilot_n), need.get(name, pilot_n))
    trained = [c for c in candidates if c.name not in trials.shared]
    extra = sum(max(need.get(c.name, pilot_n) - pilot_n, 0) for c in trained)
    one_run = training_flops(build_model(model_config(cfg, data)).num_params(), final_tokens(cfg, data))
    say(
        f"[compare] compare.resolution={resolution}: the pilot of {pilot_n} seeds asks for "
        + ", ".join(f"{n} {need.get(n, pilot_n)}" for n in [c.name for c in trained])
        + f" seeds: {extra} more final runs, {extra * one_run:.3g} FLOPs"
        + (f"; out after the pilot (worse than stratified): {', '.join(out)}" if out else "")
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
                "moderated_sd": noise["seed_sd_used"],
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
        )
    return out


def recommend(rows: list[dict], key: str, baselines: tuple[str, str] = BASELINES, what: str = "sampling") -> dict:
    """The cheapest method better than the control (`baselines[0]`) on the target (ties: the larger gain), else the
    control. The verdicts against the control hold together for the whole family of methods (`judging`); a fitted
    method whose fit ranks held-out swarm runs below swarm.min_spearman is never recommended (its row says why).
    The other baseline is offered beside the control only where it ties the control."""
    control, other = baselines
    for row in rows:
        fit = row.get("notes", {}).get("fit", {})
        if fit.get("warning"):
            row["not_recommended"] = f"its fit is not trusted: {fit['warning']}"
    winners = [
        r
        for r in rows
        if control in r["vs"] and r["vs"][control][key]["verdict"] == verdict.BETTER and not r.get("not_recommended")
    ]
    label = {"average": "average loss", "worst": "worst-domain loss", "target": "target domains' loss"}[key]
    if what != "sampling":
        label = label.replace("domain", "source")
    if winners:
        best = min(winners, key=lambda r: (r["cost"]["flops"], r["vs"][control][key]["difference"]))
        judged = best["vs"][control][key]
        low, high = judged["interval"]
        unit = "of mixture search" if what == "sampling" else "of selection"
        of_one = "final run" if what == "sampling" else "fine-tune"
        return {
            "method": best["method"],
            "line": (
                f"Recommendation: train on {best['method']}: {label} {judged['difference']:+.4f} "
                f"[{low:+.4f}, {high:+.4f}] nats/token against {control}, for {best['cost']['flops']:.3g} FLOPs "
                f"{unit} ({best['cost']['share_of_final_run']:.1%} of one {of_one})"
            ),
        }
    halves = sorted(
        r["vs"][control][key]["half_width"] for r in rows if control in r["vs"] and r.get("same_models_as") != control
    )
    detect = (
        f" (the methods' intervals have a median half-width of ±{halves[len(halves) // 2]:.4f} nats/token: smaller "
        "differences could not be seen)"
        if halves
        else ""
    )
    theirs = next((r["vs"].get(control, {}).get(key) for r in rows if r["method"] == other), None)
    alike = theirs is not None and theirs["verdict"] == verdict.SAME
    return {
        "method": control,
        "line": f"Recommendation: no method beat {control} {what} here on the {label}{detect}; train on {control}"
        + (f" (or {other}, which ties it)" if alike else ""),
    }
