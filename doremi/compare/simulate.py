"""A simulator of a compare's whole decision path: simulated contestants trained by the compare engine itself
(doremi.compare.engine.run: the design's seeds, the screen's pick on a quarter of the documents, the
confirmation on new seeds and the rest, or one stage, or Stein's two stages), judged by
doremi.stats.decide.judging and decided by doremi.stats.decide.recommend, so that every statistical promise the
README makes is measured where it is made.

The model of a loss, for contestant i, seed s and held-out document j of domain d (all draws normal, independent):

    loss[i, s, j] = mu_d + u_j + truth_i(d) + e[i, s] + v[i, j] + w[i, s, j]

- u_j: the document's own difficulty, shared by every contestant (it cancels in a paired difference);
- truth_i(d): the planted difference from the control on domain d (a shift on every domain, or on one domain);
- e[i, s]: the seed's effect on contestant i's loss; the control's has standard deviation control_sd, the others'
  sqrt(seed_sd_i^2 - control_sd^2), so that a paired difference against the control varies by seed_sd_i (the
  "paired seed SD", sigma below) and every comparison shares the control's seeds, as in a real compare;
- v[i, j]: contestant i's own deviation on document j (doc_sd, scaled by sqrt(mean tokens / the document's tokens):
  a document of few tokens is a noisy one);
- w[i, s, j]: the seed x document interaction (interaction_sd, scaled the same way): a seed changes some
  documents more than others.

Documents hold `tokens` scored tokens each, or with tokens="real" a log-uniform draw between 2 and 1,152 (the
range of the demo's held-out documents). Measured figures (the bench corpora, 3 seeds): paired seed standard
deviations 0.007-0.068 nats/token, per-document deviations about 0.05-0.3 nats/token over 8-30 documents per domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from doremi.stats import decide

CONTROL, OTHER = decide.BASELINES


@dataclass
class Scenario:
    """One cell of the simulation: the methods' planted truths and noise, the seeds and the held-out documents."""

    truths: list[float]  # planted difference from the control of each method m0, m1, ... (besides the baselines)
    seed_sd: list[float]  # paired seed noise of each method against the control (nats/token): sigma
    seeds: int = 3  # final.seeds: what the single design trains each contestant (the budget)
    domains: int = 4
    docs: int = 12  # held-out documents per domain
    doc_sd: float = 0.05  # a contestant's own deviation on a document of mean length (nats/token)
    interaction_sd: float = 0.0  # the seed x document interaction (nats/token)
    tokens: int | str = 200  # scored tokens per document, or "real" (log-uniform 2 to 1,152)
    natural: bool = True  # natural sampling among the contestants (a second baseline)
    natural_sd: float | None = None  # natural's paired seed noise (default: the median of the methods')
    costs: list[float] = field(default_factory=list)  # each method's FLOPs of search (default: increasing)
    key: str = "average"  # what the decision reads: average | worst | target
    target: list[int] | None = None  # key=target: the domains whose mean loss is the target
    only_domain: int | None = None  # the planted truths move this domain alone (else every domain)
    tied_worst: bool = False  # the control's two worst domains tied (the plug-in max's bias)
    shared: int = 0  # methods (the last ones) with the control's weights: they share its trials
    untrusted: list[str] = field(default_factory=list)  # fitted methods whose fit is not trusted (never picked)

    @property
    def methods(self) -> list[str]:
        return [f"m{i}" for i in range(len(self.truths))]

    @property
    def names(self) -> list[str]:
        return [CONTROL, *([OTHER] if self.natural else []), *self.methods]

    def truth(self, name: str) -> float:
        """The planted difference from the control on the decision's key."""
        if name in (CONTROL, OTHER):
            return 0.0
        t = self.truths[int(name[1:])]
        if self.only_domain is None:
            return t
        if self.key == "average":
            return t / self.domains
        if self.key == "target":
            return t / len(self.target) if self.only_domain in (self.target or []) else 0.0
        return 0.0 if self.tied_worst else t  # worst: moving one domain of several tied moves no maximum


class World:
    """The documents and every contestant's fixed parts of one simulated compare; `loss(name, seed)` draws a trial."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator):
        self.s, k, n = scenario, scenario.domains, scenario.docs
        self.doc_domain = np.repeat(np.arange(k), n)
        level = rng.uniform(2.5, 4.0, k)
        if scenario.tied_worst:
            order = np.argsort(level)
            level[order[-2]] = level[order[-1]]
        self.mu = level[self.doc_domain] + rng.normal(0, 0.3, k * n)
        if scenario.tokens == "real":
            self.tokens = np.exp(rng.uniform(np.log(2), np.log(1152), k * n)).round()
        else:
            self.tokens = np.full(k * n, float(scenario.tokens))
        self.scale = np.sqrt(self.tokens.mean() / self.tokens)
        sds = [float(x) for x in scenario.seed_sd]
        self.control_sd = float(np.median(sds)) * np.sqrt(0.5)
        natural = scenario.natural_sd if scenario.natural_sd is not None else float(np.median(sds))
        paired = {OTHER: natural, **dict(zip(scenario.methods, sds))}
        self.seed_sd = {n: np.sqrt(max(sd**2 - self.control_sd**2, 0.0)) for n, sd in paired.items()}
        self.seed_sd[CONTROL] = self.control_sd
        self.own = {name: rng.normal(0, scenario.doc_sd, k * n) * self.scale for name in scenario.names}
        self.rng = rng
        self.cache: dict = {}

    def shift(self, name: str) -> np.ndarray:
        if name in (CONTROL, OTHER):
            return np.zeros(len(self.mu))
        t = self.s.truths[int(name[1:])]
        if self.s.only_domain is None:
            return np.full(len(self.mu), t)
        return np.where(self.doc_domain == self.s.only_domain, t, 0.0)

    def loss(self, name: str, seed: int) -> dict:
        if (name, seed) not in self.cache:
            noise = self.rng.normal(0, self.seed_sd[name]) + self.own[name] + self.shift(name)
            noise = noise + self.rng.normal(0, self.s.interaction_sd, len(self.mu)) * self.scale
            self.cache[(name, seed)] = {
                "history": [{"step": 1, "documents": ((self.mu + noise) * self.tokens).tolist()}]
            }
        return self.cache[(name, seed)]


class Simulated:
    """A contestant of the engine whose trials the World draws."""

    def __init__(self, name: str, world: World, key: str | None):
        self.name, self.world, self.key = name, world, key

    def train(self, seed: int) -> dict:
        return self.world.loss(self.name, seed)


def contestants(scenario: Scenario, world: World) -> list[Simulated]:
    shared = set(scenario.methods[len(scenario.methods) - scenario.shared :]) if scenario.shared else set()
    return [Simulated(n, world, CONTROL if n in shared or n == CONTROL else n) for n in scenario.names]


def one_run(
    scenario: Scenario,
    rng: np.random.Generator,
    design: str = "screen",
    replicates: int = 2000,
    resolution: dict | None = None,
    top: int = 2,
    confirm: int | None = None,
    screen: int = 1,
) -> dict:
    """One simulated compare through the engine: what it recommends, whether what it printed holds the truth (the
    decision's one-sided bounds over its family; every two-sided interval against the control), and its runs."""
    from doremi.compare import engine

    world = World(scenario, rng)
    players = contestants(scenario, world)
    seeds = list(range(scenario.seeds))
    plan = decide.plan_design(design, len(engine.distinct(players)), seeds, screen, confirm, top)
    docs = decide.Documents([f"d{i}" for i in range(scenario.domains)], world.doc_domain, world.tokens)
    setup = engine.Setup(
        docs,
        lambda r: r["history"],
        scenario.key,
        scenario.target,
        int(rng.integers(1 << 30)),
        stage="simulate",
        replicates=replicates,
        quiet=True,
    )
    outcome = engine.run(players, plan, setup, scenario.untrusted, resolution)
    costs = scenario.costs or [float(i + 1) for i in range(len(scenario.truths))]
    cost = {CONTROL: 0.0, OTHER: 0.0, **dict(zip(scenario.methods, costs))}
    rows = [
        {
            "method": n,
            "vs": outcome.verdicts[n],
            "cost": {"flops": cost[n], "share_of_final_run": 0.0},
            "notes": {"fit": {"warning": "untrusted"}} if n in scenario.untrusted else {},
            "same_models_as": outcome.trials.shared.get(n),
        }
        for n in scenario.names
    ]
    board = engine.finish(rows, outcome, setup, "sampling", {n: {"seed_sd": 0.0} for n in scenario.names})
    bounds_hold = all(
        scenario.truth(r["method"]) <= r["decision"]["bound"] for r in rows if "bound" in r.get("decision", {})
    )
    judged = [r for r in rows if CONTROL in r["vs"] and r["stage"] != "screened out" and not r.get("same_models_as")]
    intervals_hold = all(
        r["vs"][CONTROL][scenario.key]["interval"][0]
        <= scenario.truth(r["method"])
        <= r["vs"][CONTROL][scenario.key]["interval"][1]
        for r in judged
    )
    decided = [r for r in rows if r.get("decision", {}).get("better")]
    return {
        "recommended": board["recommendation"]["method"],
        "bounds_hold": bounds_hold,
        "intervals_hold": intervals_hold,
        # a decision beside a printed interval that does not say "better", or a bound that does not lie below 0
        "contradiction": any(
            r["vs"][CONTROL][scenario.key]["verdict"] != "better" or r["decision"]["bound"] >= 0 for r in decided
        ),
        "runs": sum(len(per) for n, per in outcome.raw.items() if n not in outcome.trials.shared),
        "half_width": float(np.median([r["vs"][CONTROL][scenario.key]["half_width"] for r in judged] or [0.0])),
        "outcome": outcome,
    }


def stein_run(
    scenario: Scenario, rng: np.random.Generator, resolution: float, most: int = 64, replicates: int = 2000
) -> dict:
    """One compare with a resolution (Stein's two stages through the engine, the pilot of scenario.seeds seeds):
    every method's seeds, half-width against the control and whether its interval holds the truth."""
    plan: dict = {}
    settings = {"half_width": resolution, "most": most, "say_cost": lambda p, need, extra: plan.update(p)}
    run = one_run(scenario, rng, "single", replicates, settings)
    outcome = run["outcome"]
    out = {}
    for name in scenario.names[1:]:
        judged = outcome.verdicts[name][CONTROL][scenario.key]
        low, high = judged["interval"]
        out[name] = {
            "seeds": len(outcome.trials.seeds[name]),
            "half_width": judged["half_width"],
            "covered": low <= scenario.truth(name) <= high,
            "limited_by_documents": name in plan["documents"],
            "unreachable": name in plan["unreachable"],
            "out": name in plan["out"],
        }
    return out


def rates(scenario: Scenario, runs: int, seed: int, **options) -> dict:
    """Over `runs` simulated compares: the share recommending each method, the share whose printed bounds and
    intervals hold the truth, the runs trained, the median half-width."""
    rng = np.random.default_rng(seed)
    results = [one_run(scenario, rng, **options) for _ in range(runs)]
    chosen = [r["recommended"] for r in results]
    return {
        "recommended": {n: chosen.count(n) / runs for n in set(chosen)},
        "false": float(np.mean([c != CONTROL and scenario.truth(c) >= 0 for c in chosen])),
        "bounds_hold": float(np.mean([r["bounds_hold"] for r in results])),
        "intervals_hold": float(np.mean([r["intervals_hold"] for r in results])),
        "contradictions": int(sum(r["contradiction"] for r in results)),
        "runs": float(np.mean([r["runs"] for r in results])),
        "half_width": float(np.median([r["half_width"] for r in results])),
    }
