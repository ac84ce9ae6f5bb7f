"""Where documents come from: the demo corpus, local files (through `datasets`), or the hub.

Every source yields `Document`s carrying their domain and an `origin` ("file:record")
so that errors can point at the record that caused them.
"""

from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import hashlib
import itertools
import lzma
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from doremi.config.errors import DoremiError

BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".txt": "text", ".arrow": "arrow"}
COMPRESSION = {".gz", ".zst", ".bz2", ".xz"}


@dataclass(frozen=True)
class Document:
    domain: str
    text: str
    origin: str


PIECE_CHARS = 1 << 20  # documents longer than this are tokenized in pieces


def pieces(text: str) -> list[str]:
    """A document cut into pieces of at most PIECE_CHARS characters, so huge documents stay in bounded memory."""
    if len(text) <= PIECE_CHARS:
        return [text]
    return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]


def document_hash(text: str) -> int:
    """A 64-bit hash of a document's text: it fixes the split, shard and cap sampling of the document."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")


def heldout_fraction(text: str) -> float:
    """A number in [0, 1) fixed by the document's text: the held-out split is `< val_fraction`."""
    return document_hash(text) / 2**64


def split_of(doc_hash: int, val_fraction: float, at_most: int | None = None) -> str:
    """The split of a document whose text hashes to `doc_hash` (see `heldout_fraction`); with `at_most` (the
    domain's threshold from data.min_val_documents), also every hash up to it."""
    held = doc_hash / 2**64 < val_fraction or (at_most is not None and doc_hash <= at_most)
    return "val" if held else "train"


def _open_binary(path: str) -> BinaryIO:
    suffix = Path(path).suffix
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".zst":
        import zstandard

        return zstandard.open(path, "rb")
    return open(path, "rb")


def first_invalid_utf8(path: str) -> int | None:
    """Byte offset (in the decompressed stream) of the first invalid UTF-8 sequence, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with _open_binary(path) as f:
        while block := f.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                return offset + err.start
            offset += len(block)
    return None


def _replaced_copy(path: str, directory: str) -> tuple[str, int]:
    """A decompressed copy with invalid UTF-8 replaced by U+FFFD, and how many bytes were bad."""
    bad = 0

    def count(err: UnicodeDecodeError):
        nonlocal bad
        bad += err.end - err.start
        return ("\ufffd", err.end)

    codecs.register_error("doremi-count", count)
    suffixes = [s for s in Path(path).suffixes if s not in COMPRESSION]
    out = str(Path(directory) / ("clean" + "".join(suffixes)))
    decoder = codecs.getincrementaldecoder("utf-8")("doremi-count")
    with _open_binary(path) as src, open(out, "w", encoding="utf-8") as dst:
        while block := src.read(1 << 20):
            dst.write(decoder.decode(block))
        dst.write(decoder.decode(b"", final=True))
    return out, bad


def expand_paths(pattern: str, key: str) -> list[str]:
    files = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise DoremiError(f"{key}: no file matches {pattern!r}; check the path (relative to {Path.cwd()})")
    return files


def builder_of(path: str) -> str:
    suffixes = [s for s in Path(path).suffixes if s not in COMPRESSION]
    builder = BUILDERS.get(suffixes[-1] if suffixes else "")
    if builder is None:
        raise DoremiError(
            f"{path}: unknown file type; use .jsonl/.json, .parquet, .arrow or .txt (optionally .gz/.zst)"
        )
    return builder


def field_of(record: dict, dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            return None
        value = value[part]
    return value


def records(path: str, invalid_utf8: str = "error") -> Iterator[dict]:
    """Stream a local file's records through `datasets` without loading it into memory.

    Invalid UTF-8 is an error naming the byte offset; with invalid_utf8="replace" the
    file is read from a repaired copy and the number of bad bytes is reported.
    """
    from datasets import load_dataset

    builder = builder_of(path)
    if Path(path).stat().st_size == 0:
        return  # an empty file has no records (datasets cannot infer a schema from it)
    yielded = 0
    try:
        for record in load_dataset(builder, data_files=[path], split="train", streaming=True):
            yield record
            yielded += 1
    except StopIteration:  # no record to infer a schema from
        return
    except UnicodeDecodeError:
        offset = first_invalid_utf8(path)
        if invalid_utf8 != "replace":
            raise DoremiError(
                f"{path}: invalid UTF-8 at byte {offset}; fix the file or set data.invalid_utf8=replace"
            ) from None
        from doremi.store.runtime import say

        with tempfile.TemporaryDirectory() as tmp:
            clean, bad = _replaced_copy(path, tmp)
            say(f"[prepare] {path}: replaced {bad} invalid UTF-8 bytes (data.invalid_utf8=replace)")
            repaired = load_dataset(builder, data_files=[clean], split="train", streaming=True)
            yield from itertools.islice(repaired, yielded, None)  # records before the bad bytes came already
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise DoremiError(f"{path}: could not read records ({type(err).__name__}: {first})") from None


def _text_of(record: dict, text_field: str, where: str) -> str:
    text = field_of(record, text_field)
    if not isinstance(text, str):
        problem = "has no field" if text is None else "has a non-text field"
        raise DoremiError(
            f"{where}: record {problem} {text_field!r}; set data.text_field to the field holding the text"
        )
    return text


def _domain_of(record: dict, domain_field: str, where: str) -> str:
    domain = field_of(record, domain_field)
    if isinstance(domain, (dict, list)):
        raise DoremiError(
            f"{where}: record's field {domain_field!r} holds a JSON {'object' if isinstance(domain, dict) else 'list'}, "
            "not a domain name; point data.domain_field at the field holding the name (dotted paths such as "
            f"{domain_field}.name allowed)"
        )
    if domain is None:
        raise DoremiError(
            f"{where}: record has no field {domain_field!r}; set data.domain_field "
            "(dotted paths such as meta.pile_set_name allowed) or give data.domains={name: file}"
        )
    if not str(domain).strip():
        raise DoremiError(f"{where}: record has an empty domain name in {domain_field!r}; give every record a domain")
    return str(domain)


def file_documents(
    paths: list[str], text_field: str, domain_field: str, invalid_utf8: str = "error"
) -> Iterator[Document]:
    """Documents from files whose records name their domain in `domain_field`."""
    for pattern in paths:
        for path in expand_paths(pattern, "data.paths"):
            for i, record in enumerate(records(path, invalid_utf8)):
                where = f"{path}:{i + 1}"
                yield Document(_domain_of(record, domain_field, where), _text_of(record, text_field, where), where)


def domain_file_documents(domains: dict[str, Any], text_field: str, invalid_utf8: str = "error") -> Iterator[Document]:
    """Documents from one file, glob or list of them per domain."""
    for name in sorted(domains):
        patterns = domains[name]
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        for pattern in patterns:
            for path in expand_paths(pattern, f"data.domains.{name}"):
                for i, record in enumerate(records(path, invalid_utf8)):
                    where = f"{path}:{i + 1}"
                    yield Document(name, _text_of(record, text_field, where), where)


def hub_documents(name: str, config: str | None, split: str, text_field: str, domain_field: str) -> Iterator[Document]:
    """A dataset on the Hugging Face hub, streamed (needs internet)."""
    from datasets import load_dataset

    try:
        stream = load_dataset(name, config, split=split, streaming=True)
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise DoremiError(f"data.dataset={name}: could not open it on the hub ({first})") from None
    for i, record in enumerate(stream):
        where = f"{name}:{i + 1}"
        yield Document(_domain_of(record, domain_field, where), _text_of(record, text_field, where), where)


def demo_documents(max_chars: int) -> Iterator[Document]:
    from doremi.data.demo import demo_corpus

    for domain, docs in demo_corpus(max_chars).items():
        for i, text in enumerate(docs):
            yield Document(domain, text, f"demo:{domain}:{i + 1}")


def _raw_documents(data_cfg: Any) -> Iterator[Document]:
    invalid_utf8 = str(data_cfg.get("invalid_utf8", "error"))
    if data_cfg.get("domains"):
        return domain_file_documents(dict(data_cfg.domains), data_cfg.text_field, invalid_utf8)
    if data_cfg.get("paths"):
        return file_documents(list(data_cfg.paths), data_cfg.text_field, data_cfg.domain_field, invalid_utf8)
    if data_cfg.get("dataset"):
        return hub_documents(
            data_cfg.dataset, data_cfg.get("dataset_config"), data_cfg.split, data_cfg.text_field, data_cfg.domain_field
        )
    return demo_documents(int(data_cfg.demo_max_chars))


def documents(data_cfg: Any, seen_sources: set[str] | None = None) -> Iterator[Document]:
    """The documents that `data.*` describes, in a deterministic order, domains mapped.

    `data.domain_map` renames or merges source domain names ({source: domain}); a source
    mapped to null is dropped. Source names met are added to `seen_sources`.
    """
    mapping = dict(data_cfg.get("domain_map") or {})
    for doc in _raw_documents(data_cfg):
        if seen_sources is not None:
            seen_sources.add(doc.domain)
        if doc.domain in mapping:
            if mapping[doc.domain] is None:
                continue
            doc = Document(str(mapping[doc.domain]), doc.text, doc.origin)
        yield doc


def describe(data_cfg: Any) -> str:
    if data_cfg.get("domains"):
        return f"files per domain: {dict(data_cfg.domains)}"
    if data_cfg.get("paths"):
        return f"files {list(data_cfg.paths)} (domain field {data_cfg.domain_field!r})"
    if data_cfg.get("dataset"):
        return f"hub dataset {data_cfg.dataset}"
    return "embedded demo corpus (Python standard library)"


SMALL_FILE = 64 << 20  # files up to this size are fingerprinted by content, larger ones by size and mtime


def input_files(data_cfg: Any) -> dict[str, str]:
    """{file: its fingerprint} of every file that data.domains or data.paths names (globs expanded), so that
    editing a corpus file makes `prepare` stale: a content digest for files up to SMALL_FILE, size and
    modification time beyond. Files that match nothing are left to prepare's own error."""
    patterns: list[str] = []
    if data_cfg.get("domains"):
        for value in dict(data_cfg.domains).values():
            patterns += [value] if isinstance(value, str) else [str(v) for v in value]
    elif data_cfg.get("paths"):
        patterns = [str(p) for p in data_cfg.paths]
    out = {}
    for pattern in patterns:
        files = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        for name in files:
            path = Path(name)
            if not path.is_file():
                continue
            size = path.stat().st_size
            if size <= SMALL_FILE:
                digest = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda f=f: f.read(1 << 20), b""):
                        digest.update(block)
                out[str(path)] = digest.hexdigest()[:16]
            else:
                out[str(path)] = f"{size} bytes, modified {path.stat().st_mtime_ns}"
    return out
