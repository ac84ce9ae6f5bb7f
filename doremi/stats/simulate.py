"""A simulator of the compare's decision path: per-document losses for stratified, natural and m methods over shared
seeds and shared held-out documents, judged by the very functions a compare calls (doremi.stats.decide.judging, then
doremi.stats.decide.recommend; with a resolution, doremi.stats.decide.stein_plan and the second stage's judging), so that
every statistical promise the README makes is measured where it is made.

The model of a loss, for method i, seed s and held-out document j of domain d (all draws normal and independent):

    loss[i, s, j] = mu_d + u_j + truth_i + e[i, s] + v[i, j]

- u_j: the document's own difficulty, shared by every method (it cancels in a paired difference);
- truth_i: the planted difference from stratified (0 for stratified and natural);
- e[i, s]: the seed's effect on method i's average loss, standard deviation seed_sd[i] / sqrt(2) (stratified
  too, at the scenario's `control_sd`), so a pair's seed noise is seed_sd[i] and every comparison against
  stratified shares stratified's seeds: the comparisons are positively correlated, as in a real compare;
- v[i, j]: method i's own deviation on document j (doc_sd): the documents' term of the interval, with
  stratified's deviations shared by every comparison too.

Every document has `tokens` scored tokens. Measured figures (the bench corpora, 3 seeds): paired seed standard
deviations 0.007-0.068 nats/token, per-document deviations about 0.05-0.3 nats/token over 8-30 documents per domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from doremi.stats import decide, verdict

CONTROL, OTHER = decide.BASELINES


@dataclass
class Scenario:
    """One cell of the simulation: the methods' planted truths and noise, the seeds and the held-out documents."""

    truths: list[float]  # planted difference from stratified of each method (besides stratified and natural)
    seed_sd: list[float]  # paired seed noise of each method against stratified (nats/token)
    seeds: int = 3
    domains: int = 4
    docs: int = 12  # held-out documents per domain
    doc_sd: float = 0.05  # a method's own deviation on a document (nats/token)
    tokens: int = 200  # scored tokens per document
    natural_sd: float | None = None  # natural's paired seed noise (default: the median of the methods')
    costs: list[float] = field(default_factory=list)  # each method's FLOPs of search (default: increasing)

    @property
    def names(self) -> list[str]:
        return [CONTROL, OTHER, *[f"m{i}" for i in range(len(self.truths))]]


def draw(scenario: Scenario, rng: np.random.Generator, seeds: int | None = None) -> tuple[dict, SimpleNamespace]:
    """({name: {seed: result}} as trials write them, the held-out set's documents) for one simulated compare."""
    seeds = scenario.seeds if seeds is None else seeds
    k, n = scenario.domains, scenario.docs
    doc_domain = np.repeat(np.arange(k), n)
    mu = rng.uniform(2.5, 4.0, k)[doc_domain] + rng.normal(0, 0.3, k * n)
    natural = scenario.natural_sd if scenario.natural_sd is not None else float(np.median(scenario.seed_sd))
    sds = {CONTROL: None, OTHER: natural, **{f"m{i}": sd for i, sd in enumerate(scenario.seed_sd)}}
    truths = {CONTROL: 0.0, OTHER: 0.0, **{f"m{i}": t for i, t in enumerate(scenario.truths)}}
    half = np.sqrt(0.5)
    control_sd = float(np.median(scenario.seed_sd)) * half
    results = {}
    for name in scenario.names:
        sd = control_sd if sds[name] is None else np.sqrt(max(sds[name] ** 2 - control_sd**2, 0.0))
        own = rng.normal(0, scenario.doc_sd, k * n)
        per_seed = {}
        for s in range(seeds):
            loss = mu + truths[name] + rng.normal(0, sd) + own
            per_seed[s] = {"history": [{"step": 1, "documents": (loss * scenario.tokens).tolist()}]}
        results[name] = per_seed
    heldout = SimpleNamespace(doc_domain=doc_domain, doc_tokens=np.full(k * n, float(scenario.tokens)))
    return results, heldout


def judge(scenario: Scenario, results: dict, heldout, stein: dict | None = None, replicates: int = 100) -> dict:
    """The verdicts (doremi.stats.decide.judging) and the recommendation (doremi.stats.decide.recommend) of one simulated run."""
    names = scenario.names
    trials = decide.Trials(results, {}, {n: list(results[n]) for n in names})
    data = SimpleNamespace(domains=[f"d{i}" for i in range(scenario.domains)])
    judged = decide.judging(SimpleNamespace(seed=0), data, trials, [1], heldout, None, stein, replicates=replicates)
    costs = scenario.costs or [float(i + 1) for i in range(len(scenario.truths))]
    cost = {CONTROL: 0.0, OTHER: 0.0, **{f"m{i}": c for i, c in enumerate(costs)}}
    rows = [
        {"method": n, "vs": judged[n], "cost": {"flops": cost[n], "share_of_final_run": 0.0}, "notes": {}}
        for n in names
    ]
    return {"verdicts": judged, "recommendation": decide.recommend(rows, "average")}


def one_run(scenario: Scenario, rng: np.random.Generator, replicates: int = 100) -> dict:
    """One simulated compare: whether the intervals against stratified all hold the truth, what is recommended."""
    results, heldout = draw(scenario, rng)
    out = judge(scenario, results, heldout, replicates=replicates)
    truths = {OTHER: 0.0, **{f"m{i}": t for i, t in enumerate(scenario.truths)}}
    held = []
    widths = []
    for name, truth in truths.items():
        judged = out["verdicts"][name][CONTROL]["average"]
        low, high = judged["interval"]
        held.append(low <= truth <= high)
        widths.append(judged["half_width"])
    return {
        "covered": all(held),
        "recommended": out["recommendation"]["method"],
        "half_width": float(np.median(widths)),
    }


def stein_run(scenario: Scenario, rng: np.random.Generator, resolution: float, most: int = 64,
              replicates: int = 100) -> dict:  # fmt: skip
    """One compare with compare.resolution: a pilot of scenario.seeds seeds, Stein's plan, the extra seeds drawn, the
    second stage judged with the pilot's variances. Every method's half-width against stratified and its coverage."""
    pilot_n = scenario.seeds
    results, heldout = draw(scenario, rng, seeds=most)
    names = scenario.names
    pilot_results = {n: {s: r for s, r in per.items() if s < pilot_n} for n, per in results.items()}
    pilot = judge(scenario, pilot_results, heldout, replicates=replicates)["verdicts"]
    contenders = [n for n in names if n != CONTROL]
    plan = decide.stein_plan(pilot, contenders, "average", resolution, pilot_n, most)
    chosen = {n: {s: r for s, r in results[n].items() if s < plan["need"].get(n, pilot_n)} for n in names}
    stein = {"pilot": {n: verdict.pilot_noise(pilot[n][CONTROL]) for n in contenders}}
    final = judge(scenario, chosen, heldout, stein=stein, replicates=replicates)["verdicts"]
    truths = {OTHER: 0.0, **{f"m{i}": t for i, t in enumerate(scenario.truths)}}
    out = {}
    for name in contenders:
        judged = final[name][CONTROL]["average"]
        low, high = judged["interval"]
        out[name] = {
            "seeds": len(chosen[name]),
            "half_width": judged["half_width"],
            "covered": low <= truths[name] <= high,
            "limited_by_documents": name in plan["documents"],
            "unreachable": name in plan["unreachable"],
            "out": name in plan["out"],
        }
    return out
