"""What an SFT set method gets and gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from doremi.data.alloc import whole_shares
from doremi.sft.examples import Example


@dataclass
class SetContext:
    """The run's config, the pool by source (dev set held out), the budget and seed, a folder of its own, and
    services: `scorer()` the base model's doremi.sft.score.Scorer (built on first use), `learn_quotas(by_source)`
    source weights learned by Group DRO (doremi.methods.doremi.sft_quotas)."""

    cfg: DictConfig
    pool: dict[str, list[Example]]
    budget: int
    seed: int
    folder: Path
    scorer: Callable[[], object] = None
    learn_quotas: Callable[[dict], dict] = None
    target: list[Example] = field(default_factory=list)  # sft.target.paths: the examples a target-aware method aims at

    @property
    def sources(self) -> list[str]:
        return sorted(self.pool)

    def everything(self) -> list[Example]:
        return [ex for s in self.sources for ex in self.pool[s]]


@dataclass
class Selection:
    """The chosen examples, what choosing them cost, and what the method wants recorded (its funnel, scores)."""

    examples: list[Example]
    cost: dict = field(default_factory=dict)  # forward_passes, fits, fine_tune_steps
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SetMethod:
    name: str
    doc: str
    select: Callable[[SetContext], Selection]
    uses_base: bool = False  # reads the base model (scores with it, or fine-tunes from it)
    settings: tuple[str, ...] = ()  # the settings that decide its set, beside sft.budget, sft.seed and the pools
    passes: int = 0  # base-model forward passes per pool example (its cost, said before a compare trains)
    fits: int = 0  # classifier fits
    learns_quotas: bool = False  # fine-tunes a reference and a proxy from sft.learn.base (sft.learn.steps each)
    uses_target: bool = False  # selects toward sft.target.paths (refused without them)
    sections: tuple[tuple[str, type, str], ...] = ()  # its settings sections: (key, dataclass, doc), in the schema


def round_robin(similarity: np.ndarray, budget: int) -> list[int]:
    """Pool rows chosen toward a target: each target example (a column of the (pool, target) `similarity`) in turn
    takes its most similar pool example not yet taken, until `budget`; so the set covers every kind of example the
    target holds (the top of a mean over the target favours its most common kind, and a lookup task with eight keys
    learned from four of them fails on the other four)."""
    pool, targets = similarity.shape
    order = np.argsort(-similarity, axis=0, kind="stable")  # each column: pool rows, most similar first
    taken: set[int] = set()
    chosen: list[int] = []
    depth = [0] * targets
    while len(chosen) < min(budget, pool):
        for t in range(targets):
            while depth[t] < pool and int(order[depth[t], t]) in taken:
                depth[t] += 1
            if depth[t] < pool and len(chosen) < budget:
                row = int(order[depth[t], t])
                taken.add(row)
                chosen.append(row)
    return chosen


def toward_target(ctx: SetContext, name: str, features: Callable) -> Selection:
    """A set chosen toward the target examples by `features(scorer, chats)` (unit rows): the pool's cosines with
    each target example's, taken in turn (`round_robin`); refused in one line without sft.target.paths."""
    if not ctx.target:
        from doremi.config.errors import DoremiError

        raise DoremiError(f"{name} selects toward your target: give sft.target.paths=[files of target chats]")
    scorer = ctx.scorer()
    pool = sorted(ctx.everything(), key=lambda ex: ex.id)
    before = scorer.forward_passes
    similarity = features(scorer, [ex.messages for ex in pool]) @ features(scorer, [ex.messages for ex in ctx.target]).T
    rows = round_robin(similarity, ctx.budget)
    best = similarity.max(axis=1)
    notes = {"similarity": {"kept_mean": float(best[rows].mean()), "pool_mean": float(best.mean())}}
    return Selection(
        [pool[i] for i in sorted(rows)], {"forward_passes": scorer.forward_passes - before, "fits": 0}, notes
    )


def top(examples: list[Example], scores, budget: int) -> list[Example]:
    """The `budget` examples with the highest scores (ties: the smaller id), NaN scores last."""
    values = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    order = sorted(range(len(examples)), key=lambda i: (-values[i], examples[i].id))
    return [examples[i] for i in order[:budget]]


def fill(sizes: dict[str, int], weights: dict[str, float], budget: int) -> dict[str, int]:
    """{source: examples} in proportion to `weights` summing to min(budget, available): a source smaller than its
    share gives all it has and the rest goes to the others in proportion (water-filling)."""
    quota = dict.fromkeys(sizes, 0)
    left, open_ = min(budget, sum(sizes.values())), {s for s in sizes if sizes[s] > 0 and weights.get(s, 0) > 0}
    while left > 0 and open_:
        share = whole_shares({s: weights[s] for s in sorted(open_)}, left)
        full = {s for s in open_ if quota[s] + share[s] >= sizes[s]}
        if not full:
            for s in open_:
                quota[s] += share[s]
            break
        for s in full:
            left -= sizes[s] - quota[s]
            quota[s] = sizes[s]
        open_ -= full
    return quota


def random_subset(examples: list[Example], count: int, seed: int) -> list[Example]:
    """`count` examples drawn uniformly without replacement (a fixed order first: the pool's order does not count)."""
    ordered = sorted(examples, key=lambda ex: ex.id)
    pick = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return [ordered[i] for i in sorted(pick)]
