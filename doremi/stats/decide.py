"""The decision of a compare, pure and in one place: every method judged against the baselines on the seeds both
trained (doremi.stats.verdict), the family behind the recommendation held together (two-sided Sidak intervals, a
one-sided Holm decision), and the recommendation itself. stage=compare and
stage=sft_compare call it; doremi.stats.simulate drives the same functions with simulated per-document losses to
measure the error rates they promise (tests/test_simulate.py, bench/bench_verdicts.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doremi.stats import family as family_stats
from doremi.stats import verdict

BASELINES = ("stratified", "natural")


def document_sums(results: dict[str, dict[int, dict]], seeds: list[int]) -> dict[str, np.ndarray]:
    """{name: (seeds, evaluations, documents)} summed nats per held-out document: what doremi.stats.verdict judges."""
    return {
        name: np.array([[h["documents"] for h in per_seed[s]["history"]] for s in seeds])
        for name, per_seed in results.items()
    }


def versus(results: dict, seeds: list[int], name: str, heldout, domains: list[str], seed: int, target=None,
           family: int = 1, fixed: dict | None = None, replicates: int = 2000) -> dict:  # fmt: skip
    """Where every verdict is judged (stage=final's, the compares', the scale checks'): the mixture `name` of
    `results` ({mixture: {seed: result with per-document sums in its history}}) against every other one there, on
    `seeds`, by doremi.stats.verdict.compare (its options: `target` domains, a `family` of comparisons, a pilot's
    `fixed` variance)."""
    sums = document_sums(results, seeds)
    steps = [h["step"] for h in results[name][seeds[0]]["history"]]
    return verdict.compare(
        sums, name, heldout.doc_domain, heldout.doc_tokens, steps, domains, seed=seed, target=target,
        family=family, fixed=fixed, replicates=replicates,
    )  # fmt: skip


@dataclass
class Trials:
    """What the compare trained: {method: {seed: result}}, the methods sharing another's models, each method's seeds."""

    results: dict
    shared: dict
    seeds: dict


DECISION_ALPHA = 0.05  # the family-wise error of the recommendation's one-sided decision (Holm)


def judging(cfg, data, trials: Trials, steps, heldout, indices, stein: dict | None = None,
            baselines: tuple[str, str] = BASELINES, replicates: int = 2000) -> dict:  # fmt: skip
    """{method: {baseline: its verdicts}}: every method against each of `baselines` (the control the
    recommendation picks against first: stratified and natural for mixtures, random and stratified for SFT sets)
    on the seeds both trained, and the comparisons against the control widened for their family (Sidak). With `stein`
    (compare.resolution), the comparisons against the control take their variance from the pilot.

    Each pair keeps its own seed variance. Moderating it over the run's other pairs (limma's prior, as the
    previous release did, and leaving out the pair it shrinks) held the intervals together in only 92.8-94.0% of
    simulated compares of 5 and 9 methods with the unequal noise of real runs (doremi.stats.simulate, 1,000 runs each):
    a prior fitted to a handful of variances that differ tenfold shrinks the noisiest pair on doubled degrees of
    freedom, and the likeliest false winner gets the narrowest interval.

    `data` needs `domains` (the groups of documents: domains, or an SFT dev set's sources) and `heldout` the
    documents' `doc_domain` and `doc_tokens`; `trials.results[name][seed]["history"]` the per-document sums."""
    shared = trials.shared
    control = baselines[0]

    def one(name, baseline, family=1, fixed=None, **bootstrap):
        common = [s for s in trials.seeds[name] if s in trials.seeds[baseline]]
        pair = {n: trials.results[n] for n in (name, baseline)}
        return versus(pair, common, name, heldout, data.domains, int(cfg.seed), indices, family, fixed, **bootstrap)["baselines"][baseline]  # fmt: skip

    out: dict[str, dict] = {name: {} for name in trials.results}
    for baseline in baselines:
        judged = [n for n in out if n != baseline and shared.get(n) != baseline and shared.get(baseline) != n]
        family = len(judged) if baseline == control else 1
        pilots = (stein or {}).get("pilot", {}) if baseline == control else {}
        for n in out:
            if n == baseline:
                continue
            if n in pilots:
                out[n][baseline] = one(n, baseline, family=family, fixed=pilots[n], replicates=replicates)
            elif n in judged:
                out[n][baseline] = one(n, baseline, family, replicates=replicates)
            else:
                out[n][baseline] = one(n, baseline, replicates=replicates)
    return out


def decision(rows: list[dict], key: str, control: str = "stratified") -> list[str]:
    """The methods decided better than the control on `key`: one-sided tests (is the loss lower?) of every method
    against the one control, held together by Holm's step-down at DECISION_ALPHA family-wise, whatever the
    positive correlation the shared control's seeds and documents induce (Dunnett's max-t would use it, but it
    needs that correlation, which 3 seeds cannot estimate; scipy.stats.dunnett assumes independent groups with one
    common variance, which paired seeds and shared documents are not). Each p-value is the one the interval's
    construction implies (doremi.stats.family.one_sided_p). Each row's `decision` says what was decided."""
    judged = {r["method"]: r["vs"][control][key] for r in rows if control in r["vs"] and r.get("same_models_as") != control}  # fmt: skip
    p_values = {
        name: family_stats.one_sided_p(j["difference"], j["noise"]["se_seeds"], j["noise"]["df"],
                                       j["noise"]["se_documents"], j["noise"]["df_documents"])
        for name, j in judged.items()
    }  # fmt: skip
    better = family_stats.holm(p_values, DECISION_ALPHA)
    for row in rows:
        if row["method"] in p_values:
            row["decision"] = {
                "p_one_sided": p_values[row["method"]],
                "better": row["method"] in better,
                "rule": f"one-sided, Holm over {len(p_values)} comparisons against {control} at {DECISION_ALPHA:.0%} family-wise",
            }  # fmt: skip
    return better


def recommend(rows: list[dict], key: str, baselines: tuple[str, str] = BASELINES, what: str = "sampling") -> dict:
    """The cheapest method decided better than the control (`baselines[0]`) on the target (`decision`; ties: the
    larger gain), else the control. A fitted method whose fit ranks held-out swarm runs below swarm.min_spearman
    is never recommended (its row says why). The other baseline is offered beside the control only where its
    interval against the control contains 0."""
    control, other = baselines
    for row in rows:
        fit = row.get("notes", {}).get("fit", {})
        if fit.get("warning"):
            row["not_recommended"] = f"its fit is not trusted: {fit['warning']}"
    better = decision(rows, key, control)
    winners = [r for r in rows if r["method"] in better and not r.get("not_recommended")]
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
                f"[{low:+.4f}, {high:+.4f}] nats/token against {control} (95% interval, the family's), decided better "
                f"one-sided (p = {best['decision']['p_one_sided']:.2g}, Holm over the family at {DECISION_ALPHA:.0%}), "
                f"for {best['cost']['flops']:.3g} FLOPs {unit} ({best['cost']['share_of_final_run']:.1%} of one {of_one})"
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


def stein_plan(pilot: dict, contenders: list[str], key: str, resolution: float, pilot_n: int, most: int,
               control: str = "stratified") -> dict:  # fmt: skip
    """Stein's second stage from the pilot's verdicts (`judging`): {need: {method: seeds}, out, unreachable,
    documents}. A method whose pilot interval lies above 0 is out and keeps its pilot seeds; one whose held-out
    documents alone are wider than the resolution keeps its pilot seeds too (seeds cannot narrow the documents'
    term: `documents` names them); one that needs more than `most` seeds gets `most` (`unreachable`); the control
    trains as many seeds as the most any method gets."""
    need, out, unreachable, documents = {}, [], [], []
    for name in contenders:
        judged = pilot[name][control][key]
        noise = judged["noise"]
        if judged["interval"][0] > 0:
            need[name] = pilot_n
            out.append(name)
        elif family_stats.documents_limit(resolution, noise["se_documents"], noise["df_documents"], family=max(len(contenders), 1)):  # fmt: skip
            need[name] = pilot_n
            documents.append(name)
        else:
            n = family_stats.stein_seeds(
                noise["seed_sd_used"], noise["df"], resolution, pilot_n, family=max(len(contenders), 1),
                docs_se=noise["se_documents"], docs_df=noise["df_documents"], most=most,
            )  # fmt: skip
            if n is None:
                unreachable.append(name)
            need[name] = n or most
    need[control] = max(need.values(), default=pilot_n)
    return {"need": need, "out": out, "unreachable": unreachable, "documents": documents}


def verdicts_at_scale(
    results: dict, seeds: list[int], heldout, domains: list[str], key: str, indices, seed: int
) -> dict:
    """Every method of `results` ({method: {seed: result}}, stratified among them) against stratified on `key`,
    judged as the compare judges (doremi.stats.verdict), the comparisons held together (Sidak):
    {method: difference, interval, verdict, half_width}. Both scale checks (the compare's and the swarm's) judge
    their larger size here, and warn by one rule (scale_warning)."""
    others = [n for n in results if n != "stratified"]
    out = {}
    for name in others:
        pair = {n: results[n] for n in (name, "stratified")}
        judged = versus(pair, seeds, name, heldout, domains, seed, indices, len(others))["baselines"]["stratified"][key]
        out[name] = {k: judged[k] for k in ("difference", "interval", "verdict", "half_width")}
    return out


def scale_warning(recommended: str, at_larger: dict, preset: str, seeds: int = 3, key: str = "compare.check_seeds") -> str | None:  # fmt: skip
    """The one rule of both scale checks, on the larger size's verdicts (verdicts_at_scale), never on point
    estimates: a method detectably better than stratified when stratified was recommended, or the recommended
    method detectably worse than stratified; None when they agree or cannot tell (differences within the larger
    size's noise are not a reversal). With one seed the intervals cover held-out sampling only, and the warning
    says so, naming the setting (`key`) that adds seeds."""
    caveat = f" (one seed at the larger size: its intervals cover held-out sampling only, not training noise; raise {key})" if seeds < 2 else ""  # fmt: skip
    if recommended == "stratified" or recommended not in at_larger:
        better = [n for n, v in at_larger.items() if v["verdict"] == verdict.BETTER]
        if better:
            shown = ", ".join(f"{n} {at_larger[n]['difference']:+.4f}" for n in better)
            return f"at {preset} {shown} beat stratified, which this compare recommends: the decision may not hold at scale{caveat}"
        return None
    mine = at_larger[recommended]
    if mine["verdict"] == verdict.WORSE:
        return (
            f"at {preset} the recommended {recommended} is worse than stratified ({mine['difference']:+.4f} "
            f"[{mine['interval'][0]:+.4f}, {mine['interval'][1]:+.4f}]): the decision may not hold at scale{caveat}"
        )
    return None
