"""Pools with planted defects for the SFT compare's tests: a lookup task whose answer depends on the prompt
(each key, first in the prompt, has its own three-letter code: a model small enough for a CPU learns it in a
few hundred steps), a corrupted source whose responses are shuffled across prompts, and a source of
near-duplicates of one example."""

from __future__ import annotations

import random

KEYS = ["rose", "lime", "blue", "gold", "gray", "pink", "teal", "navy"]  # one length: every prompt has the same length


def codes(seed: int = 0) -> dict[str, str]:
    rng = random.Random(f"codes-{seed}")
    return {k: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3)) for k in KEYS}


def lookup(n: int, source: str, seed: int, start: int = 0) -> list[dict]:
    """`n` examples: "<key> #i" answered by the key's code."""
    table = codes()
    out = []
    for i in range(start, start + n):
        key = KEYS[i % len(KEYS)]  # every key equally often
        out.append({"prompt": f"{key} #{i:05d}", "response": table[key], "source": source})
    return out


def shuffled(records: list[dict], seed: int) -> list[dict]:
    """The same prompts with the responses shuffled across them: the answer no longer depends on the prompt."""
    responses = [r["response"] for r in records]
    random.Random(f"shuffle-{seed}").shuffle(responses)
    return [{**r, "response": a} for r, a in zip(records, responses)]


def corrupted_pool(clean: int = 160, bad: int = 320) -> list[dict]:
    return lookup(clean, "clean", 0) + shuffled(lookup(bad, "scraped", 1, start=1000), 1)


def duplicated_pool(clean: int = 160, copies: int = 480) -> list[dict]:
    """A clean source and one whose examples are near-copies of a single one (only the number differs)."""
    table = codes()
    dups = [{"prompt": f"rose #{5000 + i:05d}", "response": table["rose"], "source": "mirror"}
            for i in range(copies)]  # fmt: skip
    return lookup(clean, "clean", 0) + dups
