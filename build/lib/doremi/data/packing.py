"""Packed token chunks per domain: written incrementally, read back as memory maps.

Layout under a prepare directory:

    manifest.json                 domains, counts, tokenizer identity, sequence length
    tokenizer.json                the tokenizer (for BPE / pretrained kinds)
    train/000.bin, val/000.bin    one file per domain and split: chunks of seq_len + 1 tokens

Each document's tokens are followed by the end-of-document id; a domain's token stream
is cut into fixed chunks of `seq_len + 1` tokens (inputs and shifted targets); the tail
that does not fill a chunk is dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from doremi.config.errors import DoremiError
from doremi.store.files import read_json

SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


@dataclass
class _Stream:
    path: Path
    chunk_len: int
    dtype: np.dtype
    buffer: list[np.ndarray] = field(default_factory=list)
    buffered: int = 0
    documents: int = 0
    tokens: int = 0
    chunks: int = 0
    digest: int = 0

    def add(self, ids: np.ndarray, doc_hash: int | None = None) -> None:
        """Append a document's tokens (or a piece of one: doc_hash None until its last piece)."""
        self.tokens += len(ids)
        self.buffer.append(np.asarray(ids, dtype=self.dtype))
        self.buffered += len(ids)
        if doc_hash is not None:
            self.documents += 1
            self.digest = (self.digest + doc_hash) % 2**64  # order-independent corpus fingerprint
        if self.buffered >= 256 * self.chunk_len:
            self.flush()

    def flush(self) -> None:
        full = self.buffered // self.chunk_len * self.chunk_len
        if not full:
            return
        tokens = np.concatenate(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        with open(self.path, "ab") as f:
            tokens[:full].tofile(f)
        self.chunks += full // self.chunk_len
        rest = tokens[full:]
        self.buffer = [rest] if len(rest) else []
        self.buffered = len(rest)


class PackWriter:
    """Appends tokenized documents to per-domain, per-split chunk files; memory stays bounded."""

    def __init__(self, out_dir: Path, seq_len: int, vocab_size: int, eod_id: int):
        self.out_dir = Path(out_dir)
        self.chunk_len = seq_len + 1
        self.dtype = token_dtype(vocab_size)
        self.eod_id = eod_id
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.domain_index: dict[str, int] = {}

    def add_document(self, domain: str, split: str, pieces: list[np.ndarray], doc_hash: int) -> None:
        """Append a document (its token pieces, then the end-of-document id) to a domain's split."""
        key = (domain, split)
        if key not in self.streams:
            index = self.domain_index.setdefault(domain, len(self.domain_index))
            path = self.out_dir / split / f"unsorted-{index:04d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.streams[key] = _Stream(path, self.chunk_len, self.dtype)
        stream = self.streams[key]
        for ids in pieces:
            stream.add(ids)
        stream.add(np.array([self.eod_id]), doc_hash)

    def finish(self) -> dict:
        """Flush all streams; return per-split, per-domain counts for the manifest."""
        splits: dict[str, dict] = {split: {} for split in SPLITS}
        order = {domain: i for i, domain in enumerate(sorted(self.domain_index))}
        for (domain, split), stream in sorted(self.streams.items()):
            stream.flush()
            # files are numbered by sorted domain name, whatever order the domains came in
            final_path = stream.path.with_name(f"{order[domain]:04d}.bin")
            if stream.path.exists():
                stream.path.rename(final_path)
            stream.path = final_path
            splits[split][domain] = {
                "documents": stream.documents,
                "tokens": stream.tokens,
                "chunks": stream.chunks,
                "dropped_tokens": stream.buffered,
                "file": str(stream.path.relative_to(self.out_dir)),
                "digest": f"{stream.digest:016x}",
            }
            stream.buffer, stream.buffered = [], 0
        return splits


class PackedData:
    """Read-only view of a prepare directory: memory-mapped chunks per domain and split."""

    def __init__(self, prepare_dir: str | Path):
        self.dir = Path(prepare_dir)
        self.manifest = read_json(self.dir / "manifest.json", "run stage=prepare first (same run_dir=)")
        self.domains: list[str] = list(self.manifest["domains"])
        self.seq_len: int = int(self.manifest["seq_len"])
        self.dtype = np.dtype(self.manifest["dtype"])
        self._maps: dict[tuple[str, str], np.ndarray] = {}
        self.check_files()

    def check_files(self) -> None:
        """Every chunk file present with the size the manifest gives it, else one error naming it."""
        row = (self.seq_len + 1) * self.dtype.itemsize
        for split, infos in self.manifest["splits"].items():
            for domain, info in infos.items():
                if not info.get("chunks"):
                    continue
                path = self.dir / info["file"]
                size = path.stat().st_size if path.is_file() else None
                if size != info["chunks"] * row:
                    problem = "is missing" if size is None else f"holds {size:,} bytes, not {info['chunks'] * row:,}"
                    raise DoremiError(
                        f"{path} {problem} (domain {domain!r}, {split}): the prepared data is broken; "
                        "redo it with stage=prepare overwrite=true"
                    )

    def chunks(self, split: str, domain: str) -> np.ndarray:
        """(n_chunks, seq_len + 1) token array of one domain and split."""
        key = (split, domain)
        if key not in self._maps:
            info = self.manifest["splits"][split].get(domain)
            if info is None or info["chunks"] == 0:
                self._maps[key] = np.zeros((0, self.seq_len + 1), dtype=self.dtype)
            else:
                path = self.dir / info["file"]
                if not path.exists():
                    raise DoremiError(f"{path} is missing: the prepare output is incomplete; rerun stage=prepare")
                self._maps[key] = np.memmap(path, dtype=self.dtype, mode="r", shape=(info["chunks"], self.seq_len + 1))
        return self._maps[key]

    def chunk_counts(self, split: str = "train") -> list[int]:
        return [int(self.manifest["splits"][split].get(d, {}).get("chunks", 0)) for d in self.domains]

    def token_counts(self, split: str = "train") -> list[int]:
        return [int(self.manifest["splits"][split].get(d, {}).get("tokens", 0)) for d in self.domains]

    @property
    def tokenizer(self) -> dict:
        return self.manifest["tokenizer"]
