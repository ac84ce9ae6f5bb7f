"""The SFT dev set: held out of the pools by hash before any filter or selection, so that every SFT set is
scored on the same examples and no selection ever saw them.

Each source holds out its examples with the smallest hashes (of the example's id: source and text), as many
as `sft.dev_size` split evenly over the sources, at least `sft.min_dev_examples` each and at most a third of
the source's examples: the same examples whatever the file order, the method or the budget. The rest is the
pool the methods select from, with every example whose normalized text equals a dev example's removed
(aliases with the same docstring, re-posted answers: a set that trained on them would see its dev set).
"""

from __future__ import annotations

import hashlib
import math
import re

from doremi.config.errors import DoremiError
from doremi.sft.examples import Example


def _rank(example: Example) -> int:
    return int.from_bytes(hashlib.sha256(f"dev\x1f{example.id}".encode()).digest()[:8], "big")


def _normalized(example: Example) -> str:
    text = "\x1e".join(m["content"] for m in example.messages)
    return re.sub(r"\s+", " ", text).strip().lower()


def dev_counts(sizes: dict[str, int], dev_size: int, floor: int) -> dict[str, int]:
    """{source: dev examples}: dev_size split evenly over the sources, at least `floor`, at most a third of each."""
    even = math.ceil(dev_size / max(len(sizes), 1))
    return {s: min(max(even, floor), n // 3) for s, n in sizes.items()}


def hold_out(pool: list[Example], dev_size: int, floor: int) -> tuple[list[Example], list[Example], dict]:
    """(dev examples, the pool without them and their exact duplicates, what was held out per source)."""
    by_source: dict[str, list[Example]] = {}
    for example in pool:
        by_source.setdefault(example.source, []).append(example)
    counts = dev_counts({s: len(v) for s, v in by_source.items()}, dev_size, floor)
    small = sorted(s for s, n in counts.items() if n < 1)
    if small:
        raise DoremiError(
            f"sft pools: source {small[0]!r} has {len(by_source[small[0]])} example(s), too few to hold out a dev "
            "example (a third of them is under 1): give it 3 or more examples, or leave it out of the pools"
        )
    dev: list[Example] = []
    for source in sorted(by_source):
        dev += sorted(by_source[source], key=_rank)[: counts[source]]
    held = {id(ex) for ex in dev}
    seen = {_normalized(ex) for ex in dev}
    rest, contaminated = [], dict.fromkeys(by_source, 0)
    for example in pool:
        if id(example) in held:
            continue
        if _normalized(example) in seen:
            contaminated[example.source] += 1
            continue
        rest.append(example)
    info = {s: {"dev": counts[s], "removed_as_dev_duplicates": contaminated[s]} for s in sorted(by_source)}
    return dev, rest, info
