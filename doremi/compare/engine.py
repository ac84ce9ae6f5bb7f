"""The compare engine: contestants trained on the design's seeds, judged, decided.

A contestant is anything with a `name`, a `key` (contestants with the same key are the same training: the same
weights, the same SFT set; None never shares) and `train(seed)` returning its result; `Setup.history` reads a
result's evaluations with per-document sums (what doremi.stats.verdict judges). stage=compare supplies mixtures
(doremi.compare.mixtures) and stage=sft_compare SFT sets (doremi.compare.sft_sets); neither holds statistics or
trial logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from doremi.config.errors import DoremiError
from doremi.stats import decide, verdict
from doremi.store.runtime import say


class Contestant(Protocol):
    name: str
    key: str | None

    def train(self, seed: int) -> dict: ...


def shared_models(contestants: list) -> dict[str, str]:
    """{name: the earlier contestant with the same key, whose trials it shares}."""
    first: dict[str, str] = {}
    out = {}
    for c in contestants:
        if c.key is None:
            continue
        owner = first.setdefault(c.key, c.name)
        if owner != c.name:
            out[c.name] = owner
    return out


def distinct(contestants: list) -> list:
    shared = shared_models(contestants)
    return [c for c in contestants if c.name not in shared]


def trial_list(contestants: list, design: decide.Design) -> list[tuple]:
    """Every (contestant, seed) the design trains for sure, in a fixed order (compare.trial=i trains the i-th):
    the screen's (or the single design's) seeds for every distinct contestant. The confirmation's trials depend on
    the screen's verdicts; the judging stage trains them."""
    return [(c, s) for c in distinct(contestants) for s in design.seeds]


def one_trial(contestants: list, design: decide.Design, index: int, stage: str, key: str) -> str:
    """`key`=i: train the i-th trial (reused when done); -1 lists them with the command that trains them in
    parallel jobs."""
    listed = trial_list(contestants, design)
    if index < 0:
        lines = [f"[{stage}] trial {i}: {c.name}, seed {s}" for i, (c, s) in enumerate(listed)]
        command = (
            f"python -m doremi -m stage={stage} '{key}=range(0,{len(listed)})' hydra/launcher=joblib "
            f"hydra.launcher.n_jobs=2   # then: python -m doremi stage={stage}"
        )
        return "\n".join([*lines, f"{len(listed)} trials; train them with", command])
    if index >= len(listed):
        raise DoremiError(f"{key}={index}: this compare has {len(listed)} trials (0 to {len(listed) - 1})")
    contestant, seed = listed[index]
    contestant.train(seed)
    return f"[{stage}] trial {index} ({contestant.name}, seed {seed}) done"


@dataclass
class Setup:
    """What the judging needs besides the trials: the documents, the key the decision reads, the baselines."""

    docs: decide.Documents
    history: Callable[[dict], list]  # a result's evaluations, each with "step" and per-document "documents"
    key: str
    indices: list[int] | None
    seed: int
    baselines: tuple[str, str] = decide.BASELINES
    stage: str = "compare"
    replicates: int = 2000
    split: bool = False  # single design: judge on the deciding part (a fit scored on the screen's is among them)
    quiet: bool = False  # say nothing (the simulator)

    def say(self, line: str) -> None:
        if not self.quiet:
            say(line)


@dataclass
class Outcome:
    """What a compare trained and decided."""

    raw: dict  # {name: {seed: result}}
    trials: decide.Trials  # the results as histories, each name's seeds, the shared
    verdicts: dict  # {name: {baseline: verdicts}} from the stage that judged it
    stage: dict  # {name: "confirmed" | "screened out" | "single"}
    family: list[str]  # the methods the decision held together
    design: decide.Design
    documents: dict = field(default_factory=dict)  # which documents judged what
    screen: dict | None = None
    stein: dict | None = None


def train_on(contestants: list, seeds: list[int], raw: dict, shared: dict) -> None:
    for c in contestants:
        if c.name in shared:
            continue
        per_seed = raw.setdefault(c.name, {})
        for s in seeds:
            if s not in per_seed:
                per_seed[s] = c.train(s)
    for name, owner in shared.items():
        raw[name] = raw[owner]


def as_trials(raw: dict, shared: dict, setup: Setup, names=None, seeds=None) -> decide.Trials:
    names = list(raw) if names is None else names
    results = {
        n: {s: {"history": setup.history(r)} for s, r in raw[n].items() if seeds is None or s in seeds} for n in names
    }
    return decide.Trials(results, {n: o for n, o in shared.items() if n in names}, {n: list(results[n]) for n in names})


def judge(trials: decide.Trials, setup: Setup, documents=None, stein=None) -> dict:
    return decide.judging(
        trials, setup.docs, setup.indices, setup.seed, stein, setup.baselines, setup.replicates, documents
    )


def run(contestants: list, design: decide.Design, setup: Setup, excluded=(), resolution=None) -> Outcome:
    """Train and judge `contestants` by `design` (the control, setup.baselines[0], among them). `excluded`: methods
    the screen never picks (a fit not trusted). `resolution`: Stein's two stages on the single design
    (`second_stage`)."""
    control = setup.baselines[0]
    shared = shared_models(contestants)
    raw: dict = {}
    scored = np.asarray(setup.docs.doc_tokens) > 0  # a document with no scored token (a truncated chat) says nothing
    parts = decide.split_documents(setup.docs.doc_domain, scored)
    if design.kind == "single":
        train_on(contestants, design.seeds, raw, shared)
        documents = parts[1] if setup.split else (None if scored.all() else scored)
        stein = second_stage(contestants, raw, shared, setup, design, resolution, documents) if resolution else None
        trials = as_trials(raw, shared, setup)
        verdicts = judge(trials, setup, documents, stein)
        names = [c.name for c in contestants]
        return Outcome(
            raw,
            trials,
            verdicts,
            {n: "single" for n in names},
            family_of(names, shared, control),
            design,
            {"judged": "the deciding three quarters" if setup.split else "all"},
            None,
            stein,
        )
    train_on(contestants, design.seeds, raw, shared)
    screened = judge(as_trials(raw, shared, setup), setup, parts[0])
    sharing_control = {n for n, owner in shared.items() if owner == control}  # the control's models: nothing to confirm
    picked = decide.screen_pick(screened, setup.key, control, design.top, {*excluded, *sharing_control})
    setup.say(
        f"[{setup.stage}] screen ({len(design.seeds)} seed(s), a quarter of the documents): confirming "
        + (", ".join(f"{n} {screened[n][control][setup.key]['difference']:+.4f}" for n in picked) or "nothing")
        + f" on {len(design.confirm)} new seed(s)"
    )
    confirmed = [c for c in contestants if c.name in picked or c.name == control]
    owners = {shared.get(c.name, c.name) for c in confirmed}
    train_on([c for c in contestants if c.name in owners], design.confirm, raw, shared)
    names = [c.name for c in confirmed]
    confirm_trials = as_trials(raw, {n: o for n, o in shared.items() if n in names}, setup, names, design.confirm)
    decided = judge(confirm_trials, setup, parts[1])
    # a confirmed contestant is decided against the control on the confirmation; against a baseline that was not
    # confirmed with it, the screen's verdict describes it
    verdicts = {n: {**screened[n], **decided.get(n, {})} for n in screened}
    stage = {n: "confirmed" if n in decided else "screened out" for n in screened}
    stage.update({n: f"{control}'s models" for n in sharing_control})
    return Outcome(
        raw,
        as_trials(raw, shared, setup),
        verdicts,
        stage,
        [n for n in picked if n in decided],
        design,
        {"screen": "a quarter", "confirm": "the other three quarters"},
        {"seeds": design.seeds, "picked": picked},
    )


def family_of(names: list[str], shared: dict, control: str) -> list[str]:
    return [n for n in names if n != control and shared.get(n) != control and shared.get(control) != n]


def second_stage(contestants, raw, shared, setup: Setup, design: decide.Design, resolution: dict, documents) -> dict:
    """Stein's two stages: the pilot's noise (design.seeds) gives each contestant still in contention the seeds that
    bring its interval against the control to `resolution["half_width"]`; the plan and its cost are said before any
    is trained (`resolution["say_cost"](extra runs)`), then the missing seeds are trained."""
    control = setup.baselines[0]
    pilot_n, most = len(design.seeds), int(resolution["most"])
    pilot = judge(as_trials(raw, shared, setup), setup, documents)
    contenders = family_of(list(pilot), shared, control)
    plan = decide.stein_plan(pilot, contenders, setup.key, float(resolution["half_width"]), pilot_n, most, control)
    need = plan["need"]
    for name, owner in shared.items():  # a contestant sharing another's trials needs that one's seeds
        need[owner] = max(need.get(owner, pilot_n), need.get(name, pilot_n))
    trained = distinct(contestants)
    extra = sum(max(need.get(c.name, pilot_n) - pilot_n, 0) for c in trained)
    resolution["say_cost"](plan, {c.name: need.get(c.name, pilot_n) for c in trained}, extra)
    first = design.seeds[0]
    for c in trained:
        train_on([c], list(range(first, first + need.get(c.name, pilot_n))), raw, {})
    for name, owner in shared.items():
        raw[name] = raw[owner]
    return {
        "resolution": float(resolution["half_width"]),
        "pilot_seeds": pilot_n,
        "seeds": {n: len(s) for n, s in raw.items()},
        "out_after_pilot": plan["out"],
        "unreachable": plan["unreachable"],
        "limited_by_documents": plan["documents"],
        "extra_runs": extra,
        "pilot": {n: verdict.pilot_noise(pilot[n][control]) for n in contenders},
    }


def rank(rows: list[dict], key: str, control: str) -> None:
    """Rows in place, best first: by the difference from the control on `key` (the control's own row: 0)."""
    for row in rows:
        row["rank_key"] = row["vs"][control][key]["difference"] if control in row["vs"] else 0.0
    rows.sort(key=lambda r: r["rank_key"])


def finish(rows: list[dict], outcome: Outcome, setup: Setup, what: str, summary: dict) -> dict:
    """The leaderboard's common part: rows ranked (each with the stage that judged it and its decision), the
    recommendation (doremi.stats.decide.recommend over the outcome's family), the design, the noise floor."""
    from doremi.compare.judge import noise_floor

    control = setup.baselines[0]
    for row in rows:
        row["stage"] = outcome.stage.get(row["method"], "single")
        if row["stage"] == "screened out":
            row["decision"] = {"better": False, "rule": "screened out: not among the best of the screen, not confirmed"}
    rank(rows, setup.key, control)
    recommendation = decide.recommend(rows, setup.key, setup.baselines, what, outcome.family)
    return {
        "control": control,
        "design": {
            "kind": outcome.design.kind,
            "describe": outcome.design.describe(),
            "runs": outcome.design.runs,
            "single_runs": outcome.design.single_runs,
            "documents": outcome.documents,
            "screen": outcome.screen,
            "confirm_seeds": outcome.design.confirm,
        },
        "caveat": verdict.caveat(min(len(outcome.trials.seeds[n]) for n in [*outcome.family, control])),
        "resolution": outcome.stein,
        "noise": noise_floor(rows, summary, setup.key, control),
        "rows": rows,
        "recommendation": recommendation,
    }


def seed_sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
