"""stage=prepare: documents -> tokenizer -> packed token chunks per domain and split."""

from __future__ import annotations

import hashlib
import itertools
import json
import time

from omegaconf import DictConfig, OmegaConf

from doremi.data import sources
from doremi.data.packing import PackWriter, token_dtype
from doremi.data.tokenizer import ByteTokenizer, Tokenizer, load_pretrained, train_bpe
from doremi.errors import DoremiError
from doremi.files import write_json_atomic
from doremi.stages.common import commit, say, start

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
    writer = PackWriter(out.tmp, seq_len, tokenizer.vocab_size, tokenizer.eod_id)
    started, chars, docs = time.perf_counter(), 0, 0
    stream = iter(sources.documents(cfg.data))
    while batch := list(itertools.islice(stream, BATCH_DOCUMENTS)):
        for doc, ids in zip(batch, tokenizer.encode_batch([d.text for d in batch])):
            split = "val" if sources.heldout_fraction(doc.text) < val_fraction else "train"
            writer.add(doc.domain, split, doc.text, ids)
        docs += len(batch)
        chars += sum(len(d.text) for d in batch)
        if docs % (BATCH_DOCUMENTS * 20) == 0:
            rate = chars / 1e6 / max(time.perf_counter() - started, 1e-9)
            say(f"[prepare] {docs:,} documents, {chars / 1e6:.1f} M characters, {rate:.1f} M chars/s")
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
