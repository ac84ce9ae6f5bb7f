"""The decision of a compare, pure and in one place: every method judged against the baselines on the seeds both
trained (doremi.stats.verdict), the family behind the recommendation held together (two-sided Sidak intervals, a
one-sided decision with the bound it prints), the recommendation itself, and the designs that spend the runs
(`plan_design`: screen then confirm, or one stage). stage=compare and
stage=sft_compare call it; doremi.compare.simulate drives the same functions with simulated per-document losses to
measure the error rates they promise (tests/compare/test_simulate.py, bench/bench_verdicts.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doremi.stats import family as family_stats
from doremi.stats import verdict
from doremi.stats.design import Design, plan_design, screen_pick, split_documents  # noqa: F401  (the compare's designs)

BASELINES = ("stratified", "natural")


def document_sums(results: dict[str, dict[int, dict]], seeds: list[int], documents=None) -> dict[str, np.ndarray]:
    """{name: (seeds, evaluations, documents)} summed nats per held-out document: what doremi.stats.verdict judges;
    `documents` (a boolean mask) keeps only those documents."""
    out = {
        name: np.array([[h["documents"] for h in per_seed[s]["history"]] for s in seeds])
        for name, per_seed in results.items()
    }
    return out if documents is None else {name: sums[:, :, documents] for name, sums in out.items()}


def versus(
    results: dict,
    seeds: list[int],
    name: str,
    heldout,
    domains: list[str],
    seed: int,
    target=None,
    family: int = 1,
    fixed: dict | None = None,
    replicates: int = 2000,
    documents=None,
    level: float = 0.95,
) -> dict:
    """Where every verdict is judged (stage=final's, the compares', the scale checks'): the mixture `name` of
    `results` ({mixture: {seed: result with per-document sums in its history}}) against every other one there, on
    `seeds`, by doremi.stats.verdict.compare (its options: `target` domains, a `family` of comparisons, a pilot's
    `fixed` variance); `documents` (a boolean mask over heldout's documents) judges on those alone."""
    sums = document_sums(results, seeds, documents)
    steps = [h["step"] for h in results[name][seeds[0]]["history"]]
    doc_domain, doc_tokens = np.asarray(heldout.doc_domain), np.asarray(heldout.doc_tokens)
    if documents is not None:
        doc_domain, doc_tokens = doc_domain[documents], doc_tokens[documents]
    return verdict.compare(
        sums,
        name,
        doc_domain,
        doc_tokens,
        steps,
        domains,
        seed=seed,
        target=target,
        family=family,
        fixed=fixed,
        replicates=replicates,
        level=level,
    )


@dataclass
class Trials:
    """What the compare trained: {method: {seed: result}}, the methods sharing another's models, each method's seeds."""

    results: dict
    shared: dict
    seeds: dict


@dataclass
class Documents:
    """The documents a compare scores, grouped (domains, or an SFT dev set's sources): for each document its group
    and its scored tokens."""

    groups: list[str]
    doc_domain: np.ndarray
    doc_tokens: np.ndarray


DECISION_ALPHA = 0.05  # the family-wise error of the recommendation's one-sided decision (Bonferroni)


def judging(
    trials: Trials,
    docs: Documents,
    indices,
    seed: int,
    stein: dict | None = None,
    baselines: tuple[str, str] = BASELINES,
    replicates: int = 2000,
    documents=None,
    steps=None,
) -> dict:
    """{method: {baseline: its verdicts}}: every method against each of `baselines` (the control the
    recommendation picks against first: stratified and natural for mixtures, random and stratified for SFT sets)
    on the seeds both trained, and the comparisons against the control widened for their family (Sidak). With `stein`
    (compare.resolution), the comparisons against the control take their variance from the pilot; `documents` (a
    boolean mask) judges on those documents alone.

    Each pair keeps its own seed variance. Moderating it over the run's other pairs (limma's prior, as an earlier
    release did) held the intervals together in only 92.8-94.0% of simulated compares of 5 and 9 methods with the
    unequal noise of real runs (doremi.compare.simulate, 1,000 runs each): a prior fitted to a handful of variances
    that differ tenfold shrinks the noisiest pair on doubled degrees of freedom, and the likeliest false winner gets
    the narrowest interval.

    `trials.results[name][seed]["history"]` holds the per-document sums of `docs`' documents."""
    shared = trials.shared
    control = baselines[0]

    def one(name, baseline, level=0.95, fixed=None):
        common = [s for s in trials.seeds[name] if s in trials.seeds[baseline]]
        pair = {n: trials.results[n] for n in (name, baseline)}
        judged = versus(
            pair, common, name, docs, docs.groups, int(seed), indices, 1, fixed, replicates, documents, level
        )
        return judged["baselines"][baseline]

    out: dict[str, dict] = {name: {} for name in trials.results}
    for baseline in baselines:
        if baseline not in out:
            continue
        judged = [n for n in out if n != baseline and shared.get(n) != baseline and shared.get(baseline) != n]
        level = decision_level(len(judged)) if baseline == control else 0.95
        pilots = (stein or {}).get("pilot", {}) if baseline == control else {}
        for n in out:
            if n != baseline:
                out[n][baseline] = one(n, baseline, level if n in judged else 0.95, pilots.get(n))
    return out


def decision_level(k: int) -> float:
    """The two-sided level of the intervals against the control in a family of k: 1 - 2 alpha / k, so that each
    interval's upper end is the one-sided bound at alpha / k (Bonferroni) that decides it."""
    return 1 - 2 * DECISION_ALPHA / max(int(k), 1)


def bound_of(judged: dict, key: str) -> tuple[float, float]:
    """(the decision's one-sided bound on `key`: the upper end of the interval judged at `decision_level`, its
    p-value): for a loss that is a weighted mean of domains, from its two noise terms
    (doremi.stats.family.one_sided_p); for the worst domain the largest of the domains' (the intersection-union test
    of doremi.stats.verdict.worst_verdict)."""
    if key == "worst":
        p = max(bound_of({"d": v}, "d")[1] for v in judged["domains"].values())
        return judged["worst"]["interval"][1], p
    j = judged[key]
    n = j["noise"]
    return j["interval"][1], family_stats.one_sided_p(
        j["difference"], n["se_seeds"], n["df"], n["se_documents"], n["df_documents"]
    )


def decision(rows: list[dict], key: str, control: str = "stratified", family: list[str] | None = None) -> list[str]:
    """The methods decided better than the control on `key`: one-sided bounds (is the loss lower?) of every method
    of `family` (default: every row judged against the control and not sharing its models) at DECISION_ALPHA / its
    size (Bonferroni), so that the bound printed beside a decision is the bound that made it: "decided better"
    exactly when it lies below 0, at DECISION_ALPHA family-wise whatever the correlation the shared control's seeds
    and documents induce. Each row's `decision` says what was decided and carries that bound."""
    judged = {r["method"]: r["vs"][control] for r in rows if control in r["vs"] and r.get("same_models_as") != control}
    if family is not None:
        judged = {n: j for n, j in judged.items() if n in family}
    alpha = DECISION_ALPHA / max(len(judged), 1)
    bounds = {name: bound_of(j, key) for name, j in judged.items()}
    better = [n for n, (bound, _) in bounds.items() if bound < 0]
    for row in rows:
        if row["method"] in bounds:
            bound, p = bounds[row["method"]]
            row["decision"] = {
                "bound": bound,
                "p_one_sided": p,
                "better": row["method"] in better,
                "rule": f"one-sided {1 - DECISION_ALPHA:.0%} bounds held together over {len(bounds)} comparison(s) "
                f"against {control} (Bonferroni: each at {alpha:.3g})",
            }
    return better


LABELS = {"average": "average loss", "worst": "worst-domain loss", "target": "target's loss"}


def recommend(
    rows: list[dict],
    key: str,
    baselines: tuple[str, str] = BASELINES,
    what: str = "sampling",
    family: list[str] | None = None,
) -> dict:
    """The cheapest method decided better than the control (`baselines[0]`) on the target (`decision` over `family`;
    ties: the larger gain), else the control. A fitted method whose fit ranks held-out swarm runs below
    swarm.min_spearman is never recommended (its row says why). The other baseline is offered beside the control
    only where its interval against the control contains 0. The line prints the bound the decision used."""
    control, other = baselines
    for row in rows:
        fit = row.get("notes", {}).get("fit", {})
        if fit.get("warning"):
            row["not_recommended"] = f"its fit is not trusted: {fit['warning']}"
    better = decision(rows, key, control, family)
    winners = [r for r in rows if r["method"] in better and not r.get("not_recommended")]
    label = LABELS[key]
    if what != "sampling":
        label = label.replace("domain", "source")
    if winners:
        best = min(winners, key=lambda r: (r["cost"]["flops"], r["vs"][control][key]["difference"]))
        judged, made = best["vs"][control][key], best["decision"]
        unit = "of mixture search" if what == "sampling" else "of selection"
        of_one = "final run" if what == "sampling" else "fine-tune"
        return {
            "method": best["method"],
            "bound": made["bound"],
            "line": (
                f"Recommendation: train on {best['method']}: {label} {judged['difference']:+.4f} nats/token against "
                f"{control}, at most {made['bound']:+.4f} ({made['rule']}; p = {made['p_one_sided']:.2g}), "
                f"for {best['cost']['flops']:.3g} FLOPs {unit} ({best['cost']['share_of_final_run']:.1%} of one {of_one})"
            ),
        }
    judged_rows = [r for r in rows if "bound" in r.get("decision", {})]
    bounds = sorted(r["decision"]["bound"] - r["vs"][control][key]["difference"] for r in judged_rows)
    detect = (
        f" (the decision's one-sided bounds sit a median {bounds[len(bounds) // 2]:.4f} nats/token above the "
        "estimates: smaller gains could not be decided)"
        if bounds
        else ""
    )
    theirs = next((r["vs"].get(control, {}).get(key) for r in rows if r["method"] == other), None)
    alike = theirs is not None and theirs["verdict"] == verdict.SAME
    return {
        "method": control,
        "line": f"Recommendation: no method beat {control} {what} here on the {label}{detect}; train on {control}"
        + (f" (or {other}, which ties it)" if alike else ""),
    }


def stein_plan(
    pilot: dict,
    contenders: list[str],
    key: str,
    resolution: float,
    pilot_n: int,
    most: int,
    control: str = "stratified",
) -> dict:
    """Stein's second stage from the pilot's verdicts (`judging`): {need: {method: seeds}, out, unreachable,
    documents}. A method whose pilot interval lies above 0 is out and keeps its pilot seeds; one whose held-out
    documents alone are wider than the resolution keeps its pilot seeds too (seeds cannot narrow the documents'
    term: `documents` names them); one that needs more than `most` seeds gets `most` (`unreachable`); the control
    trains as many seeds as the most any method gets."""
    need, out, unreachable, documents = {}, [], [], []
    level = decision_level(len(contenders))  # the level the second stage's intervals are judged at
    for name in contenders:
        judged = pilot[name][control][key]
        noise = judged["noise"]
        if judged["interval"][0] > 0:
            need[name] = pilot_n
            out.append(name)
        elif family_stats.documents_limit(resolution, noise["se_documents"], noise["df_documents"], level):
            need[name] = pilot_n
            documents.append(name)
        else:
            n = family_stats.stein_seeds(
                noise["seed_sd_used"],
                noise["df"],
                resolution,
                pilot_n,
                level,
                docs_se=noise["se_documents"],
                docs_df=noise["df_documents"],
                most=most,
            )
            if n is None:
                unreachable.append(name)
            need[name] = n or most
    need[control] = max(need.values(), default=pilot_n)
    return {"need": need, "out": out, "unreachable": unreachable, "documents": documents}


def verdicts_at_scale(
    results: dict, seeds: list[int], heldout, domains: list[str], key: str, indices, seed: int, documents=None
) -> dict:
    """Every method of `results` ({method: {seed: result}}, stratified among them) against stratified on `key`,
    judged as the compare judges (doremi.stats.verdict), the comparisons held together (Sidak):
    {method: difference, interval, verdict, half_width}. Both scale checks (the compare's and the swarm's) judge
    their larger size here, and warn by one rule (scale_warning)."""
    others = [n for n in results if n != "stratified"]
    out = {}
    for name in others:
        pair = {n: results[n] for n in (name, "stratified")}
        judged = versus(pair, seeds, name, heldout, domains, seed, indices, len(others), documents=documents)
        judged = judged["baselines"]["stratified"][key]
        out[name] = {k: judged[k] for k in ("difference", "interval", "verdict", "half_width")}
    return out


def scale_warning(
    recommended: str, at_larger: dict, preset: str, seeds: int = 3, key: str = "compare.check_seeds"
) -> str | None:
    """The one rule of both scale checks, on the larger size's verdicts (verdicts_at_scale), never on point
    estimates: a method detectably better than stratified when stratified was recommended, or the recommended
    method detectably worse than stratified; None when they agree or cannot tell (differences within the larger
    size's noise are not a reversal). With one seed the intervals cover held-out sampling only, and the warning
    says so, naming the setting (`key`) that adds seeds."""
    caveat = (
        f" (one seed at the larger size: its intervals cover held-out sampling only, not training noise; raise {key})"
        if seeds < 2
        else ""
    )
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
