"""The held-out evaluation set: the sequences every final model is scored on, and the
document each scored token belongs to.

A domain's held-out split is used whole when it has at most `per_domain` sequences;
otherwise `per_domain` sequences evenly spaced over the split, so that the sample reaches
every part of it rather than its first documents. The set is a pure function of the
prepared data and `per_domain`: the same for every mixture and every seed, which is what
makes paired comparisons between mixtures fair.

Documents: in a domain's packed stream every document ends with the end-of-document id,
so the document of a token is the number of end-of-document ids before it. A target token
that is itself the end-of-document id belongs to the document it ends. Scores per
document let an interval be computed by resampling documents (doremi.stats.verdict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from doremi.data.packing import PackedData


@dataclass
class HeldOut:
    """Rows of held-out tokens with their domain and, per target token, its document."""

    domains: list[str]
    tokens: np.ndarray  # (rows, seq_len + 1) token ids
    domain: np.ndarray  # (rows,) domain index of each row
    doc: np.ndarray  # (rows, seq_len) document index (0..documents-1) of each target token
    doc_domain: np.ndarray  # (documents,) domain index of each document
    doc_tokens: np.ndarray  # (documents,) scored tokens of each document
    doc_bytes: np.ndarray  # (documents,) UTF-8 bytes of each document's scored tokens
    per_domain: int | None  # the cap on rows per domain (None: whole splits)
    available: list[int]  # held-out rows each domain has

    @property
    def documents(self) -> int:
        return len(self.doc_domain)

    def describe(self) -> dict:
        """What the set is, for eval.json and the report."""
        rows = np.bincount(self.domain, minlength=len(self.domains))
        docs = np.bincount(self.doc_domain, minlength=len(self.domains))
        tokens = np.bincount(self.doc_domain, weights=self.doc_tokens, minlength=len(self.domains))
        return {
            "per_domain_cap": self.per_domain,
            "sequences": {d: int(n) for d, n in zip(self.domains, rows)},
            "sequences_available": dict(zip(self.domains, self.available)),
            "documents": {d: int(n) for d, n in zip(self.domains, docs)},
            "tokens": {d: int(n) for d, n in zip(self.domains, tokens)},
            "whole_split": all(int(r) == a for r, a in zip(rows, self.available)),
        }

    def parts(self) -> tuple[np.ndarray, np.ndarray]:
        """The two fixed parts of the documents that hold a scored token (doremi.stats.design.split_documents): the
        first (a quarter) scores the swarm's fits and a compare's screen, the second (the rest) decides."""
        from doremi.stats.design import split_documents

        return split_documents(self.doc_domain, self.doc_tokens > 0)

    def losses_on(self, doc_sums: np.ndarray, documents: np.ndarray) -> dict[str, float]:
        """Each domain's loss (nats/token) over the `documents` (a boolean mask) from per-document summed nats."""
        sums = np.bincount(
            self.doc_domain[documents], weights=np.asarray(doc_sums)[documents], minlength=len(self.domains)
        )
        tokens = np.bincount(
            self.doc_domain[documents], weights=self.doc_tokens[documents], minlength=len(self.domains)
        )
        return {d: float(s / t) for d, s, t in zip(self.domains, sums, tokens) if t > 0}

    def bytes_per_token(self) -> dict[str, float]:
        """UTF-8 bytes per scored token in each domain (for bits per byte)."""
        out = {}
        for i, d in enumerate(self.domains):
            mine = self.doc_domain == i
            out[d] = float(self.doc_bytes[mine].sum() / max(self.doc_tokens[mine].sum(), 1))
        return out

    def batches(self, batch_size: int) -> list[dict[str, torch.Tensor]]:
        """Batches {input, target, domain, doc} in a fixed order."""
        tokens = torch.from_numpy(self.tokens.astype(np.int64))
        domain = torch.from_numpy(self.domain.astype(np.int64))
        doc = torch.from_numpy(self.doc.astype(np.int64))
        return [
            {
                "input": tokens[s : s + batch_size, :-1],
                "target": tokens[s : s + batch_size, 1:],
                "domain": domain[s : s + batch_size],
                "doc": doc[s : s + batch_size],
            }
            for s in range(0, len(tokens), batch_size)
        ]


def spread_rows(available: int, cap: int | None) -> np.ndarray:
    """All row indices when at most `cap` (or no cap), else `cap` indices evenly spread over them."""
    if cap is None or available <= cap:
        return np.arange(available)
    return np.unique(np.linspace(0, available - 1, cap).round().astype(np.int64))


def scored_rows(chunks: np.ndarray, picked: np.ndarray, eod_id: int, token_bytes: np.ndarray, offset: int) -> tuple:
    """The picked rows of one group's packed chunks, with each target token's document (numbered from `offset`) and
    each document's scored tokens and bytes: (rows, doc index per target, documents, doc_tokens, doc_bytes)."""
    chunk_len = chunks.shape[1]
    stream = np.asarray(chunks).reshape(-1)
    ends_before = np.cumsum(stream == eod_id)  # end-of-document ids up to and including each position
    # target j of chunk c sits at c*chunk_len + 1 + j; its document = ends strictly before it
    positions = picked[:, None] * chunk_len + np.arange(chunk_len - 1)[None, :]
    local = ends_before[positions]
    used, dense = np.unique(local, return_inverse=True)
    dense = dense.reshape(local.shape)
    targets = np.asarray(chunks[picked])[:, 1:].astype(np.int64)
    doc_tokens = np.bincount(dense.reshape(-1), minlength=len(used))
    doc_bytes = np.bincount(dense.reshape(-1), weights=token_bytes[targets].reshape(-1), minlength=len(used))
    return np.asarray(chunks[picked]), dense + offset, len(used), doc_tokens, doc_bytes


def heldout_set(data: PackedData, per_domain: int | None, eod_id: int, token_bytes: np.ndarray) -> HeldOut:
    """The evaluation set of a prepared run (see the module docstring).

    token_bytes: UTF-8 bytes of each token id (0 for the end-of-document id).
    """
    rows, row_domain, row_doc, doc_domain, doc_tokens, doc_bytes, available = [], [], [], [], [], [], []
    offset = 0
    for i, domain in enumerate(data.domains):
        chunks = data.chunks("val", domain)
        available.append(len(chunks))
        picked = spread_rows(len(chunks), per_domain)
        mine, doc, used, tokens, nbytes = scored_rows(chunks, picked, eod_id, token_bytes, offset)
        rows.append(mine)
        row_domain.append(np.full(len(picked), i, dtype=np.int64))
        row_doc.append(doc)
        doc_domain.append(np.full(used, i, dtype=np.int64))
        doc_tokens.append(tokens)
        doc_bytes.append(nbytes)
        offset += used
    return HeldOut(
        domains=list(data.domains),
        tokens=np.concatenate(rows),
        domain=np.concatenate(row_domain),
        doc=np.concatenate(row_doc),
        doc_domain=np.concatenate(doc_domain),
        doc_tokens=np.concatenate(doc_tokens).astype(np.float64),
        doc_bytes=np.concatenate(doc_bytes).astype(np.float64),
        per_domain=per_domain,
        available=available,
    )


def heldout_for(cfg, data) -> HeldOut:
    """The run's held-out set: final.eval_chunks sequences per domain (null: all) with the tokenizer's byte counts."""
    from doremi.config.errors import DoremiError
    from doremi.data.tokenizer import load_saved

    cap = cfg.final.eval_chunks
    if cap is not None and (isinstance(cap, bool) or int(cap) < 1):
        raise DoremiError(f"final.eval_chunks={cap}: give a number of sequences per domain (1 or more) or null (all)")
    tokenizer = load_saved(data.dir, str(cfg.tokenizer.kind))
    return heldout_set(data, None if cap is None else int(cap), tokenizer.eod_id, tokenizer.token_bytes())
