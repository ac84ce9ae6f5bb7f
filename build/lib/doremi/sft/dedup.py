"""Deduplication across all sources: exact (normalized text hash) and near (MinHash LSH).

`datasketch` provides MinHash and LSH (well kept, and the standard tool for this); the
text compared is the prompt and the response, lower-cased with punctuation and
whitespace runs removed, shingled into word 3-grams. Of each duplicate group the first
example in the given order is kept (callers order by score, then a stable id).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from doremi.sft.examples import Example

WORD = re.compile(r"\w+")


def normalized(ex: Example) -> list[str]:
    return WORD.findall(f"{ex.prompt}\n{ex.response}".lower())


def deduplicate(
    examples: list[Example], threshold: float = 0.8, num_perm: int = 128, near: bool = True
) -> tuple[list[Example], dict[str, dict[str, int]]]:
    """Examples without exact or near duplicates (Jaccard >= threshold), and drops per source."""
    from datasketch import MinHash, MinHashLSH

    dropped: dict[str, Counter] = {}
    seen: set[str] = set()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm) if near else None
    kept = []
    for i, ex in enumerate(examples):
        words = normalized(ex)
        digest = hashlib.sha256(" ".join(words).encode()).hexdigest()
        if digest in seen:
            dropped.setdefault(ex.source, Counter())["exact duplicate"] += 1
            continue
        seen.add(digest)
        if lsh is not None:
            shingles = {" ".join(words[j : j + 3]) for j in range(max(len(words) - 2, 1))}
            signature = MinHash(num_perm=num_perm, seed=1)
            signature.update_batch([s.encode() for s in shingles])
            if lsh.query(signature):
                dropped.setdefault(ex.source, Counter())["near duplicate"] += 1
                continue
            lsh.insert(str(i), signature)
        kept.append(ex)
    return kept, {s: dict(c) for s, c in sorted(dropped.items())}
