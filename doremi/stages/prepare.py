"""stage=prepare: documents -> tokenizer -> packed token chunks per domain and split."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from doremi.config.errors import DoremiError
from doremi.data import sources
from doremi.data.mixture import closest
from doremi.data.packing import PackWriter, token_dtype
from doremi.data.shards import ShardWriter, merged_documents
from doremi.data.tokenizer import ByteTokenizer, Tokenizer, load_pretrained, load_saved, train_bpe
from doremi.pipeline.common import commit, say, stage_dir, start
from doremi.store.files import write_json_atomic

BATCH_DOCUMENTS = 512


def build_tokenizer(cfg: DictConfig) -> Tokenizer:
    kind = cfg.tokenizer.kind
    if kind == "byte":
        return ByteTokenizer()
    if kind == "pretrained":
        if not cfg.tokenizer.get("path"):
            raise DoremiError("tokenizer.kind=pretrained needs tokenizer.path (a tokenizer.json file or hub name)")
        return load_pretrained(str(cfg.tokenizer.path))
    if kind == "bpe":
        per_domain = int(cfg.tokenizer.train_chars)
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
        mapping = dict(cfg.data.get("domain_map") or {})
        if mapping and all(v is None for v in mapping.values()):
            raise DoremiError(
                f"data.domain_map drops every domain of the data (each is mapped to null: {', '.join(map(str, mapping))}); "
                "keep at least one"
            )
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
        if val["chunks"] == 0 and train["documents"] + val["documents"] < 3:
            raise DoremiError(
                f"domain {name!r} has {train['documents'] + val['documents']} document(s): at most a third of a "
                "domain's documents are held out, so none of them is and it cannot be scored; give it 3 or more "
                "documents, merge it into another domain (data.domain_map), or drop it"
            )
        if val["chunks"] == 0:
            raise DoremiError(
                f"domain {name!r} has {val['tokens']} held-out tokens ({val['documents']} documents), fewer than one "
                f"sequence of {seq_len + 1}; raise data.val_fraction (now {cfg.data.val_fraction}) or "
                f"data.min_val_documents (now {cfg.data.get('min_val_documents')}), or add documents"
            )
    return domains


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
            [sum(len(ids) for ids in tokenizer.encode_batch(sources.pieces(d.text))) + 1 for d in batch]
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


def heldout_thresholds(cfg: DictConfig, caps: dict[str, int] | None) -> dict[str, int]:
    """Per domain whose val_fraction holds out fewer than data.min_val_documents of its kept documents, the largest
    hash held out so that it holds out that many (at most a third of its documents): a domain's held-out loss
    from 2 documents cannot say how much it varies (doremi.stats.verdict). One extra pass over the corpus, hashing only.
    """
    least = cfg.data.get("min_val_documents")
    if not least:
        return {}
    least, fraction = int(least), float(cfg.data.val_fraction)
    smallest: dict[str, list[int]] = {}  # max-heaps (negated) of each domain's `least` smallest hashes
    counts: dict[str, int] = {}
    below: dict[str, int] = {}
    for doc in sources.documents(cfg.data):
        doc_hash = sources.document_hash(doc.text)
        if caps is not None and doc_hash > caps.get(doc.domain, -1):
            continue
        counts[doc.domain] = counts.get(doc.domain, 0) + 1
        below[doc.domain] = below.get(doc.domain, 0) + (doc_hash / 2**64 < fraction)
        heap = smallest.setdefault(doc.domain, [])
        heapq.heappush(heap, -doc_hash)
        if len(heap) > least:
            heapq.heappop(heap)
    wanted = {d: min(least, n // 3) for d, n in counts.items()}
    out = {d: sorted(-h for h in heap)[wanted[d] - 1] for d, heap in smallest.items() if wanted[d] > below[d]}
    if out:
        say(
            f"[prepare] data.min_val_documents={least}: holding out more documents in "
            + ", ".join(f"{d} ({wanted[d]} of {counts[d]})" for d in sorted(out))
        )
    return out


def tokenized_documents(
    cfg: DictConfig, tokenizer: Tokenizer, seen_sources: set[str], shard: int = 0, num_shards: int = 1
) -> Iterator[tuple[int, str, int, str, list[np.ndarray]]]:
    """(position in the corpus, domain, text hash, split, token pieces) of every kept document, with progress.

    Documents are kept when under the caps and, with num_shards > 1, when their hash
    assigns them to `shard`; the split is data.val_fraction's, raised to data.min_val_documents.
    """
    thresholds = cap_thresholds(cfg, tokenizer)
    held = heldout_thresholds(cfg, thresholds)
    fraction = float(cfg.data.val_fraction)
    started, chars, docs, batches, position = time.perf_counter(), 0, 0, 0, 0
    stream = iter(sources.documents(cfg.data, seen_sources))
    while batch := list(itertools.islice(stream, BATCH_DOCUMENTS)):
        rows = []
        for doc in batch:
            doc_hash = sources.document_hash(doc.text)
            if doc_hash % num_shards == shard and (thresholds is None or doc_hash <= thresholds[doc.domain]):
                rows.append((position, doc, doc_hash, sources.pieces(doc.text)))
            position += 1
        encoded = iter(tokenizer.encode_batch([p for row in rows for p in row[3]]))
        for pos, doc, doc_hash, pieces in rows:
            split = sources.split_of(doc_hash, fraction, held.get(doc.domain))
            yield pos, doc.domain, doc_hash, split, [next(encoded) for _ in pieces]
        docs += len(rows)
        chars += sum(len(row[1].text) for row in rows)
        batches += 1
        if batches % 20 == 0:
            rate = chars / 1e6 / max(time.perf_counter() - started, 1e-9)
            say(f"[prepare] {docs:,} documents, {chars / 1e6:.1f} M characters, {rate:.1f} M chars/s")


def _check_settings(cfg: DictConfig) -> None:
    val_fraction = float(cfg.data.val_fraction)
    if not 0 < val_fraction < 1:
        raise DoremiError(f"data.val_fraction={val_fraction}: must be between 0 and 1")
    say(f"[prepare] reading {sources.describe(cfg.data)}")


def shard_dir(cfg: DictConfig, shard: int, num_shards: int) -> Path:
    return stage_dir(cfg, "prepare_shards") / f"{shard:05d}-of-{num_shards:05d}"


def run_shard(cfg: DictConfig, shard: int, num_shards: int) -> None:
    """One machine's share: the documents whose hash is `shard` modulo `num_shards`, tokenized."""
    if not 0 <= shard < num_shards:
        raise DoremiError(f"prepare.shard={shard}: must be in 0..{num_shards - 1} (prepare.num_shards={num_shards})")
    out = start(cfg, "prepare", final=shard_dir(cfg, shard, num_shards))
    if out is None:
        return
    _check_settings(cfg)
    tokenizer = build_tokenizer(cfg)
    seen_sources: set[str] = set()
    writer = ShardWriter(out.tmp, token_dtype(tokenizer.vocab_size))
    for position, domain, doc_hash, split, pieces in tokenized_documents(
        cfg, tokenizer, seen_sources, shard, num_shards
    ):
        writer.add_document(position, domain, split, pieces, doc_hash)
    tokenizer.save(out.tmp)
    info = {
        "shard": shard,
        "num_shards": num_shards,
        "tokenizer": tokenizer.identity(),
        "seen_sources": sorted(seen_sources),
    }
    write_json_atomic(out.tmp / "shard.json", {**info, "streams": writer.finish()})
    commit(out)
    say(
        f"[prepare] shard {shard} of {num_shards} done in {out.final}; merge with stage=prepare prepare.num_shards={num_shards}"
    )


def merge_shards(cfg: DictConfig, num_shards: int, out_dir: Path) -> tuple[Tokenizer, set[str], dict]:
    """Pack all shards' documents in corpus order: the same output as a single-machine prepare."""
    shards, identities, seen_sources = [], set(), set()
    for shard in range(num_shards):
        directory = shard_dir(cfg, shard, num_shards)
        if not (directory / "done.json").exists():
            raise DoremiError(
                f"prepare shard {shard} of {num_shards} is missing ({directory}); run stage=prepare "
                f"prepare.shard={shard} prepare.num_shards={num_shards} with the same settings first"
            )
        info = json.loads((directory / "shard.json").read_text())
        shards.append((directory, info["streams"]))
        identities.add(json.dumps(info["tokenizer"], sort_keys=True))
        seen_sources.update(info["seen_sources"])
    if len(identities) > 1:
        raise DoremiError(
            f"the {num_shards} prepare shards used different tokenizers; prepare them with one tokenizer.path"
        )
    tokenizer = load_saved(shards[0][0], cfg.tokenizer.kind)
    writer = PackWriter(out_dir, int(cfg.model.seq_len), tokenizer.vocab_size, tokenizer.eod_id)
    dtype = token_dtype(tokenizer.vocab_size)
    domains = sorted({d for _, streams in shards for d in streams})
    for domain in domains:
        for split in ("train", "val"):
            for doc_hash, tokens in merged_documents(shards, domain, split, dtype):
                writer.add_document(domain, split, [tokens], doc_hash)
    say(f"[prepare] merged {num_shards} shards")
    return tokenizer, seen_sources, writer.finish()


def run(cfg: DictConfig) -> None:
    """Prepare the corpus; with prepare.num_shards > 1, one shard (prepare.shard=i) or the merge of all."""
    if cfg.prepare.get("reuse"):
        raise DoremiError(
            f"prepare.reuse={cfg.prepare.reuse}: this run reads another run's prepared data; "
            "run stage=prepare there, or unset prepare.reuse"
        )
    num_shards, shard = int(cfg.prepare.num_shards), cfg.prepare.shard
    if num_shards > 1 and shard is not None:
        return run_shard(cfg, int(shard), num_shards)
    out = start(cfg, "prepare")
    if out is None:
        return
    started = time.perf_counter()
    seq_len = int(cfg.model.seq_len)
    if num_shards > 1:
        tokenizer, seen_sources, splits = merge_shards(cfg, num_shards, out.tmp)
    else:
        _check_settings(cfg)
        tokenizer = build_tokenizer(cfg)
        seen_sources: set[str] = set()
        writer = PackWriter(out.tmp, seq_len, tokenizer.vocab_size, tokenizer.eod_id)
        for _, domain, doc_hash, split, pieces in tokenized_documents(cfg, tokenizer, seen_sources):
            writer.add_document(domain, split, pieces, doc_hash)
        splits = writer.finish()
    _check_domain_map(cfg, seen_sources)
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
        "val_fraction": float(cfg.data.val_fraction),
        "min_val_documents": cfg.data.get("min_val_documents"),
        "source": sources.describe(cfg.data),
        "splits": splits,
        "data_config": OmegaConf.to_container(cfg.data, resolve=True),
    }
    write_json_atomic(out.tmp / "manifest.json", manifest)
    commit(out)
    took = time.perf_counter() - started
    train_tokens = sum(v["tokens"] for v in splits["train"].values())
    docs = sum(v["documents"] for split in splits.values() for v in split.values())
    say(f"[prepare] {len(domains)} domains, {docs:,} documents, {train_tokens:,} training tokens in {took:.1f}s")
