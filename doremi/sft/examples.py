"""Instruction examples and the pools they come from.

A record is a chat (`messages`: [{role, content}, ...]) or a `prompt`/`response` pair;
its source is a field (`sft.source_field`) or the pool it came from (`sft.pools`:
{source: file or glob}); a sub-category (`sft.category_field`, e.g. the Stack Exchange
site) and a score (`sft.score_field`) are optional.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from doremi.config.errors import DoremiError
from doremi.data.sources import expand_paths, field_of, records


@dataclass
class Example:
    source: str
    messages: list[dict[str, str]]
    category: str | None = None
    score: float | None = None
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            text = "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in self.messages)
            self.id = hashlib.sha256(f"{self.source}\x1d{text}".encode()).hexdigest()[:16]

    @property
    def prompt(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages if m["role"] != "assistant")

    @property
    def response(self) -> str:
        """The assistant's turns (what the filters look at and the loss trains on)."""
        return "\n\n".join(m["content"] for m in self.messages if m["role"] == "assistant")

    def to_record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _field(record: dict, dotted: str | None) -> Any:
    return field_of(record, dotted) if dotted else None


def _content(message: Any, where: str, index: int) -> dict[str, str]:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise DoremiError(f"{where}: message {index + 1} has no text 'content' (got {message!r:.60}); fix the record")
    return {"role": str(message.get("role")), "content": message["content"]}


def to_example(record: dict, source: str | None, cfg: Any, where: str) -> Example:
    """One record as an Example, or a one-line error naming the record and the missing field."""
    if source is None:
        source = _field(record, cfg.source_field)
        if source is None:
            raise DoremiError(f"{where}: no source field '{cfg.source_field}'; set sft.source_field or use sft.pools")
    if isinstance(record.get("messages"), list):
        messages = [_content(m, where, i) for i, m in enumerate(record["messages"])]
        if not any(m["role"] == "assistant" for m in messages):
            raise DoremiError(f"{where}: 'messages' has no assistant turn")
    elif "prompt" in record and "response" in record:
        for key in ("prompt", "response"):
            if not isinstance(record[key], str):
                raise DoremiError(f"{where}: {key!r} is not text (got {record[key]!r:.60}); fix the record")
        messages = [
            {"role": "user", "content": str(record["prompt"])},
            {"role": "assistant", "content": str(record["response"])},
        ]
    else:
        raise DoremiError(f"{where}: needs 'messages' (chat) or 'prompt' and 'response' fields; has {sorted(record)}")
    category = _field(record, cfg.category_field)
    score = _field(record, cfg.score_field)
    return Example(
        str(source), messages, None if category is None else str(category), None if score is None else float(score)
    )


def _records(path: str, key: str = "sft.pools") -> Iterator[tuple[dict, str]]:
    for file in expand_paths(path, key):
        for i, record in enumerate(records(file)):
            yield record, f"{file}:{i + 1}"


def read_target(cfg: Any) -> list[Example]:
    """The examples of sft.target.paths (prompt/response or messages records), their source "target"; [] when none
    is given; one line when the files hold none."""
    paths = list(cfg.target.paths or [])
    if not paths:
        return []
    out = [to_example(r, "target", cfg, w) for path in paths for r, w in _records(str(path), "sft.target.paths")]
    if not out:
        raise DoremiError(
            f"sft.target.paths: {', '.join(map(str, paths))} holds no example; give files of target chats"
        )
    return out


def same_chat(ex: Example) -> str:
    """What makes two examples the same chat whatever their source."""
    return "\x1e".join(f"{m['role']}\x1f{m['content'].strip()}" for m in ex.messages)


def read_pools(cfg: Any) -> list[Example]:
    """Every example of `sft.pools` ({source: path}), `sft.paths` (source in a field) or `sft.dataset`
    ([] when none is set: the caller uses the demo pool)."""
    if cfg.pools:
        return [to_example(r, str(s), cfg, w) for s, path in cfg.pools.items() for r, w in _records(str(path))]
    if cfg.paths:
        return [to_example(r, None, cfg, w) for path in cfg.paths for r, w in _records(str(path))]
    if cfg.dataset:
        import datasets

        data = datasets.load_dataset(str(cfg.dataset), split=str(cfg.split), streaming=True)
        return [to_example(r, None, cfg, f"{cfg.dataset}:{i + 1}") for i, r in enumerate(data)]
    return []
