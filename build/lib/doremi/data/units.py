"""Mixture units: shares of tokens under one tokenizer, of bytes, and of tokens under another.

A learned weight w_i is a share of tokens under the tokenizer the proxy used. With b_i the
bytes per token of domain i under that tokenizer, the share of bytes is w_i·b_i / Σ w·b
(tokenizer-independent), and under a target tokenizer with b'_i bytes per token the share
of its tokens is (w_i·b_i/b'_i) / Σ (w·b/b'): the same bytes, counted in the target's tokens.
"""

from __future__ import annotations

import numpy as np


def bytes_per_token(chunks: np.ndarray, token_bytes: np.ndarray, eod_id: int | None = None) -> float:
    """Mean UTF-8 bytes per token of packed chunks, under the tokenizer whose byte lengths are
    `token_bytes` (end-of-document ids, 0 bytes, are not counted as tokens)."""
    ids = np.asarray(chunks).reshape(-1)
    if eod_id is not None:
        ids = ids[ids != eod_id]
    return float(token_bytes[ids].sum() / max(len(ids), 1))


def sample_texts(chunks: np.ndarray, tokenizer, blocks: int = 64, block_tokens: int = 8192) -> tuple[list[str], int]:
    """(texts, source tokens): whole documents decoded from `blocks` runs of consecutive chunks spread over
    the domain (a domain's chunks are its token stream cut in order). Pieces cut by a run's ends are left
    out, so that no word is split where the corpus did not split it; the tokens counted are those the texts
    were decoded from (end-of-document ids left out)."""
    if len(chunks) == 0:
        return [], 0
    span = max(1, block_tokens // chunks.shape[1])
    starts = np.unique(np.linspace(0, max(len(chunks) - span, 0), num=blocks).astype(np.int64))
    texts, tokens = [], 0
    for start in starts:
        stream = np.asarray(chunks[start : start + span]).reshape(-1)
        pieces = np.split(stream, np.flatnonzero(stream == tokenizer.eod_id))
        whole = pieces[1:-1] if len(pieces) > 2 else pieces  # keep only documents the run holds entirely
        for piece in whole:
            piece = piece[piece != tokenizer.eod_id]
            if len(piece):
                texts.append(tokenizer.decode(piece.tolist()))
                tokens += len(piece)
    return texts, tokens


def measured_bytes_per_token(texts: list[str], tokens: int) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / max(tokens, 1)


def byte_shares(weights: dict[str, float], bpt: dict[str, float]) -> dict[str, float]:
    raw = {d: w * bpt[d] for d, w in weights.items()}
    total = sum(raw.values())
    return {d: v / total for d, v in raw.items()}


def convert(weights: dict[str, float], bpt_from: dict[str, float], bpt_to: dict[str, float]) -> dict[str, float]:
    """Token shares under the target tokenizer that carry the same bytes as `weights` under the source one."""
    raw = {d: w * bpt_from[d] / bpt_to[d] for d, w in weights.items()}
    total = sum(raw.values())
    return {d: v / total for d, v in raw.items()}
