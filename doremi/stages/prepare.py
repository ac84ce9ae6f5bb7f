"""stage=prepare: documents -> tokenizer -> packed token chunks per domain and split."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import time

from omegaconf import DictConfig, OmegaConf

from doremi.data import sources
from doremi.data.packing import PackWriter, token_dtype
from doremi.data.tokenizer import ByteTokenizer, Tokenizer, load_pretrained, train_bpe
from doremi.errors import DoremiError
from doremi.files import write_json_atomic
from doremi.mixture import closest
from doremi.stages.common import commit, say, start

BATCH_DOCUMENTS = 512
PIECE_CHARS = 1 << 20  # documents longer than this are tokenized in pieces


def build_tokenizer(cfg: DictConfig) -> Tokenizer:
    kind = cfg.tokenizer.kind
    if kind == "byte":
        return ByteTokenizer()
    if kind == "pretrained":
        if not cfg.tokenizer.get("path"):
            raise DoremiError("tokenizer.kind=pretrained needs tokenizer.path (a tokenizer.json file or hub name)")
        return load_pretrained(str(cfg.tokenizer.path))
    if kind == "bpe":
        per_domain = int(cfg.tokenizer.get("train_chars", 2_000_000))
        taken: dict[str, int] = {}

        def sample():
            # the first `train_chars` characters of every domain, in corpus order
            for doc in sources.documents(cfg.data):
                if taken.get(doc.domain, 0) < per_domain:
                    taken[doc.domain] = taken.get(doc.domain, 0) + len(doc.text)
                    yield doc.text

        say(f"[prepare] training a {cfg.tokenizer.vocab_size}-token BPE tokenizer")
        return train_bpe(sample(), int(cfg.tokenizer.vocab_size))
    raise DoremiError(f"tokenizer.kind={kind}: expected byte, bpe or pretrained")


def _check_domain_map(cfg: DictConfig, seen_sources: set[str]) -> None:
    for source in cfg.data.get("domain_map") or {}:
        if source not in seen_sources:
            raise DoremiError(
                f"data.domain_map names {source!r}, which the data does not have{closest(source, sorted(seen_sources))}"
            )


def _check_domains(cfg: DictConfig, splits: dict, seq_len: int) -> list[str]:
    domains = sorted(set(splits["train"]) | set(splits["val"]))
    expected = sorted(cfg.data.domains) if cfg.data.get("domains") else domains
    if not domains:
        raise DoremiError(f"no documents found in {sources.describe(cfg.data)}")
    for name in expected:
        train = splits["train"].get(name, {"documents": 0, "tokens": 0, "chunks": 0})
        val = splits["val"].get(name, {"documents": 0, "tokens": 0, "chunks": 0})
        if train["documents"] + val["documents"] == 0:
            raise DoremiError(f"domain {name!r} is empty: data.domains.{name} has no documents; remove it or add text")
        if train["chunks"] == 0:
            raise DoremiError(
                f"domain {name!r} has {train['tokens']} training tokens, fewer than one sequence of "
                f"{seq_len + 1} (model.seq_len + 1); add text to it, drop it, or lower model.seq_len"
            )
        if val["chunks"] == 0:
            raise DoremiError(
                f"domain {name!r} has {val['tokens']} held-out tokens ({val['documents']} documents), fewer than one "
                f"sequence of {seq_len + 1}; raise data.val_fraction (now {cfg.data.val_fraction}) or add documents"
            )
    return domains


def _pieces(text: str) -> list[str]:
    """A document cut into pieces of at most PIECE_CHARS characters, so huge documents stay in bounded memory."""
    if len(text) <= PIECE_CHARS:
        return [text]
    return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]


def cap_thresholds(cfg: DictConfig, tokenizer: Tokenizer) -> dict[str, int] | None:
    """Per domain, the largest document hash kept under data.max_documents / data.max_tokens.

    The kept documents are those with the smallest hashes: a deterministic sample that does
    not depend on file order or sharding. Needs one extra pass over the corpus.
    """
    max_docs, max_tokens = cfg.data.get("max_documents"), cfg.data.get("max_tokens")
    if not max_docs and not max_tokens:
        return None
    say(f"[prepare] sampling documents under caps (max_documents={max_docs}, max_tokens={max_tokens})")
    heaps: dict[str, list[tuple[int, int]]] = {}
    totals: dict[str, int] = {}
    stream = iter(sources.documents(cfg.data))
    while batch := list(itertools.islice(stream, BATCH_DOCUMENTS)):
        lengths = (
            [sum(len(ids) for ids in tokenizer.encode_batch(_pieces(d.text))) + 1 for d in batch]
            if max_tokens
            else [1] * len(batch)
        )
        for doc, n_tokens in zip(batch, lengths):
            heap = heaps.setdefault(doc.domain, [])
            heapq.heappush(heap, (-sources.document_hash(doc.text), n_tokens))  # max-heap on hash
            totals[doc.domain] = totals.get(doc.domain, 0) + n_tokens
            while heap and (
                (max_docs and len(heap) > int(max_docs)) or (max_tokens and totals[doc.domain] > int(max_tokens))
            ):
                totals[doc.domain] -= heapq.heappop(heap)[1]
    return {domain: -heap[0][0] for domain, heap in heaps.items() if heap}


def run(cfg: DictConfig) -> None:
    out = start(cfg, "prepare")
    if out is None:
        return
    seq_len = int(cfg.model.seq_len)
    val_fraction = float(cfg.data.val_fraction)
    if not 0 < val_fraction < 1:
        raise DoremiError(f"data.val_fraction={val_fraction}: must be between 0 and 1")
    say(f"[prepare] reading {sources.describe(cfg.data)}")
    tokenizer = build_tokenizer(cfg)
    thresholds = cap_thresholds(cfg, tokenizer)
    writer = PackWriter(out.tmp, seq_len, tokenizer.vocab_size, tokenizer.eod_id)
    started, chars, docs, batches = time.perf_counter(), 0, 0, 0
    seen_sources: set[str] = set()
    stream = iter(sources.documents(cfg.data, seen_sources))
    while batch := list(itertools.islice(stream, BATCH_DOCUMENTS)):
        hashes = [sources.document_hash(d.text) for d in batch]
        if thresholds is not None:
            keep = [i for i, (d, h) in enumerate(zip(batch, hashes)) if h <= thresholds[d.domain]]
            batch, hashes = [batch[i] for i in keep], [hashes[i] for i in keep]
        pieces = [_pieces(d.text) for d in batch]
        encoded = iter(tokenizer.encode_batch([p for doc_pieces in pieces for p in doc_pieces]))
        for doc, doc_hash, doc_pieces in zip(batch, hashes, pieces):
            split = "val" if doc_hash / 2**64 < val_fraction else "train"
            for i in range(len(doc_pieces)):
                writer.add(doc.domain, split, next(encoded), doc_hash if i == len(doc_pieces) - 1 else None)
        docs += len(batch)
        chars += sum(len(d.text) for d in batch)
        batches += 1
        if batches % 20 == 0:
            rate = chars / 1e6 / max(time.perf_counter() - started, 1e-9)
            say(f"[prepare] {docs:,} documents, {chars / 1e6:.1f} M characters, {rate:.1f} M chars/s")
    _check_domain_map(cfg, seen_sources)
    splits = writer.finish()
    domains = _check_domains(cfg, splits, seq_len)
    data_hash = hashlib.sha256(
        json.dumps([[d, s, splits[s].get(d, {}).get("digest")] for d in domains for s in ("train", "val")]).encode()
    ).hexdigest()[:16]
    tokenizer.save(out.tmp)
    manifest = {
        "format": "doremi-prepare/v1",
        "domains": domains,
        "seq_len": seq_len,
        "chunk_len": seq_len + 1,
        "dtype": token_dtype(tokenizer.vocab_size).name,
        "tokenizer": tokenizer.identity(),
        "tokenizer_config": OmegaConf.to_container(cfg.tokenizer, resolve=True),
        "data_hash": data_hash,
        "val_fraction": val_fraction,
        "source": sources.describe(cfg.data),
        "splits": splits,
        "data_config": OmegaConf.to_container(cfg.data, resolve=True),
    }
    write_json_atomic(out.tmp / "manifest.json", manifest)
    commit(out)
    took = time.perf_counter() - started
    train_tokens = sum(v["tokens"] for v in splits["train"].values())
    say(f"[prepare] {len(domains)} domains, {docs:,} documents, {train_tokens:,} training tokens in {took:.1f}s")
