"""One shard of a sharded prepare: documents kept whole (not yet packed) with their corpus position.

Per domain and split, a shard directory holds
    <split>/<n>.tokens   the documents' tokens, back to back (no end-of-document ids)
    <split>/<n>.index    one uint64 triple per document: (corpus position, token count, text hash)
so that a merge can interleave the shards' documents back into corpus order and pack
them exactly as a single-machine prepare would.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class ShardWriter:
    def __init__(self, out_dir: Path, dtype: np.dtype):
        self.out_dir = Path(out_dir)
        self.dtype = dtype
        self.files: dict[tuple[str, str], tuple[object, object]] = {}
        self.domain_index: dict[str, int] = {}
        self.counts: dict[str, dict[str, dict]] = {}

    def add_document(self, position: int, domain: str, split: str, pieces: list[np.ndarray], doc_hash: int) -> None:
        key = (domain, split)
        if key not in self.files:
            index = self.domain_index.setdefault(domain, len(self.domain_index))
            stem = self.out_dir / split / f"{index:04d}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            self.files[key] = (open(f"{stem}.tokens", "wb"), open(f"{stem}.index", "wb"))
            self.counts.setdefault(domain, {})[split] = {"documents": 0, "tokens": 0, "file": f"{split}/{index:04d}"}
        tokens_file, index_file = self.files[key]
        n_tokens = 0
        for ids in pieces:
            np.asarray(ids, dtype=self.dtype).tofile(tokens_file)
            n_tokens += len(ids)
        np.array([position, n_tokens, doc_hash], dtype=np.uint64).tofile(index_file)
        counts = self.counts[domain][split]
        counts["documents"] += 1
        counts["tokens"] += n_tokens

    def finish(self) -> dict:
        for tokens_file, index_file in self.files.values():
            tokens_file.close()
            index_file.close()
        return self.counts


def _documents(shard_dir: Path, entry: dict, dtype: np.dtype) -> Iterator[tuple[int, int, np.ndarray]]:
    """(position, text hash, tokens) of one shard's documents of one domain and split, in order."""
    stem = shard_dir / entry["file"]
    index = np.fromfile(f"{stem}.index", dtype=np.uint64).reshape(-1, 3)
    tokens = np.memmap(f"{stem}.tokens", dtype=dtype, mode="r") if entry["tokens"] else np.zeros(0, dtype)
    offset = 0
    for position, n_tokens, doc_hash in index.tolist():
        yield position, doc_hash, np.asarray(tokens[offset : offset + n_tokens])
        offset += n_tokens


def merged_documents(
    shards: list[tuple[Path, dict]], domain: str, split: str, dtype: np.dtype
) -> Iterator[tuple[int, np.ndarray]]:
    """(text hash, tokens) of a domain's split across shards, back in corpus order."""
    streams = [
        _documents(shard_dir, counts[domain][split], dtype)
        for shard_dir, counts in shards
        if split in counts.get(domain, {})
    ]
    for _, doc_hash, tokens in heapq.merge(*streams, key=lambda doc: doc[0]):
        yield doc_hash, tokens
