"""Your target: documents you care about (target.paths), scored by every model of a compare and aimed at by the
target-aware methods, never trained on.

The files are read like a corpus (`.jsonl`/`.json`, `.parquet`, `.arrow`, `.txt`, optionally compressed; the text
in target.text_field), tokenized with the run's tokenizer exactly as stage=prepare tokenizes, and packed into
sequences of the model's length with the end-of-document id after each document. A target document whose tokens
equal a training document's (exact duplicates, compared on token ids against every training document of the
prepared data) is dropped, and the count said: a model that trained on it would be judged on its memory.

The set is a doremi.data.heldout.HeldOut with one group, "target": the same scoring (per document summed nats) and
the same statistics as the held-out domains, split like them into the screen's quarter and the deciding rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from doremi.config.errors import DoremiError
from doremi.data.heldout import HeldOut, scored_rows
from doremi.data.packing import PackedData
from doremi.data.sources import expand_paths, field_of, pieces, records

GROUP = "target"


@dataclass
class Target:
    """The target's packed documents and what was read."""

    heldout: HeldOut
    digest: str  # of the kept documents' token ids: what a trial scored on the target records
    paths: list[str]
    read: int  # documents read
    overlapped: int  # dropped: token-identical to a training document
    empty: int  # dropped: no text
    origins: list[str] = field(default_factory=list)
    docs: list = field(default_factory=list)  # each kept document's token ids
    eod_id: int = -1  # the tokenizer's end-of-document id (screen_rows packs with it)

    def screen_rows(self) -> np.ndarray:
        """(rows, seq_len + 1) token rows of the target's screen part alone (doremi.stats.design.split_documents):
        what a method aiming at the target may train its weights on, never the documents a compare decides on."""
        first, _ = self.heldout.parts()
        kept = [d for d, keep in zip(self.docs, first[: len(self.docs)]) if keep]
        seq_len = self.heldout.tokens.shape[1] - 1
        vocab = int(max(int(self.heldout.tokens.max()), self.eod_id)) + 1
        return pack_documents(kept or self.docs[:1], seq_len, self.eod_id, np.zeros(vocab)).tokens


    def describe(self) -> dict:
        return {
            "paths": self.paths,
            "documents_read": self.read,
            "overlapping_training": self.overlapped,
            "empty": self.empty,
            "documents": int((self.heldout.doc_tokens > 0).sum()),
            "tokens": int(self.heldout.doc_tokens.sum()),
            "digest": self.digest,
        }


def token_hash(ids: np.ndarray) -> bytes:
    return hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=16).digest()


def training_hashes(data: PackedData, eod_id: int) -> set[bytes]:
    """The token-id hash of every training document of the prepared data (its packed streams split at the
    end-of-document id)."""
    out: set[bytes] = set()
    for domain in data.domains:
        stream = np.asarray(data.chunks("train", domain)).reshape(-1)
        ends = np.flatnonzero(stream == eod_id)
        start = 0
        for end in ends:
            if end > start:
                out.add(token_hash(stream[start:end]))
            start = end + 1
    return out


def read_texts(paths: list[str], text_field: str, key: str, invalid_utf8: str = "error") -> list[tuple[str, str]]:
    """(text, origin) of every record of the files `paths` (globs allowed); one line naming the file and the field
    when a record has no text there."""
    out = []
    for pattern in paths:
        for path in expand_paths(str(pattern), key):
            for i, record in enumerate(records(path, invalid_utf8)):
                text = field_of(record, text_field)
                if text is not None and not isinstance(text, str):
                    raise DoremiError(
                        f"{path}:{i + 1}: field {text_field!r} is not text; set {key.rsplit('.', 1)[0]}.text_field"
                    )
                if text is None:
                    raise DoremiError(
                        f"{path}:{i + 1}: record has no field {text_field!r}; set "
                        f"{key.rsplit('.', 1)[0]}.text_field to the field holding the text"
                    )
                out.append((text, f"{path}:{i + 1}"))
    return out


def pack_documents(docs: list[np.ndarray], seq_len: int, eod_id: int, token_bytes: np.ndarray) -> HeldOut:
    """One group's documents packed into rows of seq_len + 1 tokens (each document followed by the end-of-document
    id; the last row filled by cycling from the start, its repeated tokens belonging to no scored document)."""
    chunk_len = seq_len + 1
    stream = np.concatenate([np.append(np.asarray(d, dtype=np.int64), eod_id) for d in docs])
    n_rows = -(-len(stream) // chunk_len)
    filler = np.resize(stream, n_rows * chunk_len - len(stream)) if n_rows * chunk_len > len(stream) else stream[:0]
    chunks = np.concatenate([stream, filler]).reshape(n_rows, chunk_len)
    rows, doc, used, doc_tokens, doc_bytes = scored_rows(chunks, np.arange(n_rows), eod_id, token_bytes, 0)
    # the filler's targets: the documents after the last real one (at most as many as the filler crosses)
    real = len(docs)
    doc_tokens = doc_tokens.astype(np.float64)
    doc_bytes = doc_bytes.astype(np.float64)
    if used > real:
        doc_tokens[real:] = 0.0  # no scored token: left out of every statistic (doremi.stats.design.split_documents)
        doc_bytes[real:] = 0.0
    return HeldOut(
        domains=[GROUP],
        tokens=rows,
        domain=np.zeros(len(rows), dtype=np.int64),
        doc=doc,
        doc_domain=np.zeros(used, dtype=np.int64),
        doc_tokens=doc_tokens,
        doc_bytes=doc_bytes,
        per_domain=None,
        available=[len(rows)],
    )


def load_target(
    paths: list[str],
    text_field: str,
    data: PackedData,
    tokenizer,
    invalid_utf8: str = "error",
    key: str = "target.paths",
) -> Target:
    """The target of target.paths for a prepared run (see the module docstring). Refused in one line: no file, no
    document with text, or every document a training document."""
    texts = read_texts(list(paths), text_field, key, invalid_utf8)
    kept_text = [(t, o) for t, o in texts if t.strip()]
    if not kept_text:
        raise DoremiError(
            f"{key}: {', '.join(map(str, paths))} holds no document with text; give files of target documents"
        )
    seen = training_hashes(data, tokenizer.eod_id)
    docs, origins, overlapped = [], [], 0
    for text, origin in kept_text:
        ids = np.concatenate([np.asarray(x, dtype=np.int64) for x in tokenizer.encode_batch(pieces(text))])
        if token_hash(ids) in seen:
            overlapped += 1
            continue
        docs.append(ids)
        origins.append(origin)
    if not docs:
        raise DoremiError(
            f"{key}: all {len(kept_text)} target documents are also training documents (token-identical); a target "
            "must be text the models never train on"
        )
    heldout = pack_documents(docs, data.seq_len, tokenizer.eod_id, tokenizer.token_bytes())
    digest = hashlib.sha256(b"".join(token_hash(d) for d in docs)).hexdigest()[:16]
    return Target(
        heldout,
        digest,
        [str(p) for p in paths],
        len(texts),
        overlapped,
        len(texts) - len(kept_text),
        origins,
        docs,
        tokenizer.eod_id,
    )


_LOADED: dict = {}


def target_for(cfg, data) -> Target | None:
    """The run's target (target.paths), or None when none is given; read once per process for the same files and
    prepared data."""
    from doremi.data.tokenizer import load_saved

    paths = list(cfg.target.paths or []) if cfg.get("target") is not None else []
    if not paths:
        return None
    key = (tuple(map(str, paths)), str(cfg.target.text_field), str(data.dir), str(data.manifest.get("data_hash")))
    if key not in _LOADED:
        tokenizer = load_saved(Path(data.dir), str(cfg.tokenizer.kind))
        _LOADED[key] = load_target(paths, str(cfg.target.text_field), data, tokenizer, str(cfg.data.invalid_utf8))
    return _LOADED[key]


def target_loss(doc_sums, target: Target, documents: np.ndarray | None = None) -> float:
    """The target's loss (nats/token) from its per-document summed nats, on `documents` (a mask) or all."""
    tokens = target.heldout.doc_tokens
    mask = tokens > 0 if documents is None else (np.asarray(documents, dtype=bool) & (tokens > 0))
    return float(np.asarray(doc_sums)[mask].sum() / tokens[mask].sum())
