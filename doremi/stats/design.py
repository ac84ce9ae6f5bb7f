"""How a compare spends its runs and which documents judge what: the held-out documents' two fixed parts, the
screen's pick, and the designs (screen then confirm, one stage) with the runs each asks for. Pure; the compare
engine (doremi.compare.engine) carries them out, doremi.compare.simulate measures them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCREEN_SHARE = 0.25
"""The share of each group's held-out documents that the screen (and the swarm's fits) read; the confirmation
decides on the rest. Measured through the engine (doremi.compare.simulate, 9 mixtures, 27 runs, the better method
2 paired seed-SDs ahead, 12 documents a domain of 2 to 1,152 tokens, 300 compares a cell): a quarter found it in
84.7% (equal noise) and 39.7% (noise differing tenfold) of compares, a third in 36.3% (tenfold), a half in 72.3%
and 27.7%, a sixth in 38.3% (tenfold). Where the documents' noise outweighs the seeds', the decision needs documents
more than the screen does: the screen only ranks, and one seed's noise swamps its documents' anyway."""


def split_documents(
    doc_group: np.ndarray, scored=None, salt: int = 20230517, share: float = SCREEN_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint parts of the held-out documents, drawn within each group by a fixed permutation (the same for
    every run of the same held-out set): (screen, decide) boolean masks, the first holding `share` of each group's
    documents (at least one, and at least one left for the second). The first scores the swarm's fits and the
    compare's screen; the second judges the confirmation, so that no decision reads documents a fit or a selection
    has seen. A group with a single document cannot be split: it is in both (its loss would otherwise be missing
    from one part), which the report says. `scored` (a boolean mask): the documents that hold a scored token; the
    others are in neither part."""
    doc_group = np.asarray(doc_group)
    scored = np.ones(len(doc_group), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    first = np.zeros(len(doc_group), dtype=bool)
    second = np.zeros(len(doc_group), dtype=bool)
    rng = np.random.default_rng(salt)
    for g in np.unique(doc_group):
        mine = np.flatnonzero((doc_group == g) & scored)
        if len(mine) < 2:
            first[mine] = second[mine] = True
            continue
        order = rng.permutation(mine)
        k = min(max(int(round(len(mine) * share)), 1), len(mine) - 1)
        first[order[:k]] = True
        second[order[k:]] = True
    return first, second


def screen_pick(verdicts: dict, key: str, control: str, top: int, excluded=()) -> list[str]:
    """The screen's choice: the `top` methods with the lowest point estimate against the control on `key` (the
    screen's verdicts), leaving out the control and `excluded` (fits not trusted, the control's own models). A
    point estimate is the best a few seeds can rank by; the confirmation on new seeds and other documents decides."""
    ranked = sorted(
        (n for n, v in verdicts.items() if n != control and control in v and n not in excluded),
        key=lambda n: verdicts[n][control][key]["difference"],
    )
    return ranked[:top]


@dataclass
class Design:
    """How a compare spends its runs. `screen`: every distinct contestant on `screen` seeds, judged on the screen's share
    of the documents (SCREEN_SHARE); the `top` best (by point estimate) and the control retrained on `confirm` new seeds and judged
    on the other documents, where the decision is made (Bonferroni over the `top`). `single` (the earlier releases'
    design): every contestant on `seeds`, judged on every document, the decision over all of them."""

    kind: str
    seeds: list[int]  # single: every seed; screen: the screen's seeds
    confirm: list[int]
    top: int
    runs: int  # the trainings it asks for (distinct contestants)
    single_runs: int  # what the single design would ask for at the same settings

    def describe(self) -> str:
        if self.kind == "single":
            return f"one stage: every contestant on {len(self.seeds)} seed(s), {self.runs} runs"
        return (
            f"screen then confirm: every contestant on {len(self.seeds)} seed(s) (a quarter of the documents), the best "
            f"{self.top} and the control on {len(self.confirm)} new seed(s) (the other documents, where the decision is made): "
            f"{self.runs} runs, the single design's {self.single_runs}"
        )


def plan_design(
    kind: str, distinct: int, seeds: list[int], screen_seeds: int = 1, confirm_seeds: int | None = None, top: int = 2
) -> Design:
    """The design for `distinct` contestants trained (the control among them) at `seeds` (final.seeds: what the
    single design trains each, the budget). `screen`: `screen_seeds` for every contestant, then `confirm_seeds` new
    seeds (None: the most that keeps the total within the single design's, at least 3) for the `top` best and the
    control; where fewer than 3 would fit, one fewer is confirmed. Where the top and the control are all the
    contestants, a screen would choose nothing: one stage.

    Why these defaults (doremi.compare.simulate, 9 contestants, 27 runs, a method better by 2 paired seed-SDs; 200
    runs a cell): 1 screen seed, 2 confirmed on 6 seeds found it in 86% (equal noise) and 54% (noise differing
    tenfold) of compares; 2 screen seeds and 3 confirmation seeds in 46%; 2 and 1 on 4 in 83% and 32%; 1 on 9 in
    84% and 29%. Degrees of freedom in the confirmation buy most of the power (Student's t at 2 df is 4.3, at 5 df
    2.6), and a second confirmed method keeps a noisy screen from missing the better one. Those runs split the
    documents in halves with 200 tokens each; at SCREEN_SHARE with real token counts, 3 confirmed on 4 seeds found it
    in 26.7% (tenfold) against 39.7% for 2 on 6."""
    single = distinct * len(seeds)
    top = min(int(top), distinct - 1)
    confirm = confirm_seeds
    while confirm_seeds is None and top > 1 and (single - distinct * int(screen_seeds)) // (top + 1) < 3:
        top -= 1
    if kind == "single" or top < 1 or top + 1 >= distinct:
        return Design("single", list(seeds), [], top, single, single)
    if confirm is None:
        confirm = max((single - distinct * int(screen_seeds)) // (top + 1), 3)
    runs = distinct * int(screen_seeds) + (top + 1) * int(confirm)
    if confirm_seeds is None and runs > single:  # too few runs to screen and confirm: one stage, never more compute
        return Design("single", list(seeds), [], top, single, single)
    first = seeds[0]
    screen = [first + i for i in range(int(screen_seeds))]
    confirmed = [first + int(screen_seeds) + i for i in range(int(confirm))]
    return Design("screen", screen, confirmed, top, runs, single)
