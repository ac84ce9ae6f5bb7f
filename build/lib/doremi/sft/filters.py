"""LIMA's quality filters (REFERENCES.md), each a small step that says why it drops an example.

A filter takes an Example and returns a reason string to drop it, or None to keep it.
`strip_links` rewrites the response instead: links become their text, images and bare
URLs go, code blocks (fenced or indented) and lists are left as they are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from doremi.sft.examples import Example

Filter = Callable[[Example], str | None]

FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|I'll|me|my|mine|myself)\b")
OTHER_ANSWERS = re.compile(
    r"\b(other|above|previous|below|accepted|top|earlier) (answers?|posts?|repl(y|ies))\b"
    r"|\bas (\w+ )?(said|mentioned|suggested|pointed out) (above|before|earlier)\b"
    r"|\b(answer|comment) (above|below)\b",
    re.IGNORECASE,
)
FENCE = re.compile(r"(```.*?```|~~~.*?~~~)", re.DOTALL)
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.IGNORECASE)
LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|www\.)[^)]*\)")
HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
BARE_URL = re.compile(r"<?(?:https?://|www\.)[^\s<>)\]]+>?")


def length_bounds(min_chars: int, max_chars: int) -> Filter:
    def check(ex: Example) -> str | None:
        n = len(ex.response)
        if n < min_chars:
            return f"response shorter than {min_chars} characters"
        if n > max_chars:
            return f"response longer than {max_chars} characters"
        return None

    return check


def _prose(text: str) -> str:
    """The text outside code: fenced blocks and indented lines removed."""
    text = FENCE.sub(" ", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("    ", "\t", ">>>", "...")))


def first_person(ex: Example) -> str | None:
    return "answer in the first person" if FIRST_PERSON.search(_prose(ex.response)) else None


def refers_to_other_answers(ex: Example) -> str | None:
    return "answer refers to other answers" if OTHER_ANSWERS.search(_prose(ex.response)) else None


def min_score(threshold: float) -> Filter:
    def check(ex: Example) -> str | None:
        if ex.score is not None and ex.score < threshold:
            return f"score below {threshold:g}"
        return None

    return check


def strip_links_text(text: str) -> str:
    """Links -> their text; images and bare URLs removed; code blocks untouched."""
    pieces = FENCE.split(text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 1:  # a fenced code block
            out.append(piece)
            continue
        lines = []
        for line in piece.split("\n"):
            if line.startswith(("    ", "\t")):  # indented code
                lines.append(line)
                continue
            line = IMAGE.sub("", line)
            line = LINK.sub(r"\1", line)
            line = HTML_LINK.sub(r"\1", line)
            line = BARE_URL.sub("", line)
            lines.append(re.sub(r"[ \t]{2,}", " ", line).rstrip() if line.strip() else line.rstrip())
        out.append("\n".join(lines))
    return "".join(out)


def strip_links(ex: Example) -> Example:
    messages = [
        {**m, "content": strip_links_text(m["content"])} if m["role"] == "assistant" else m for m in ex.messages
    ]
    return replace(ex, messages=messages)


def make_filters(cfg: Any) -> list[tuple[str, Filter]]:
    """(name, filter) in the order they run, from `sft.filters`."""
    steps: list[tuple[str, Filter]] = [("length", length_bounds(int(cfg.min_chars), int(cfg.max_chars)))]
    if cfg.first_person:
        steps.append(("first_person", first_person))
    if cfg.other_answers:
        steps.append(("other_answers", refers_to_other_answers))
    if cfg.min_score is not None:
        steps.append(("min_score", min_score(float(cfg.min_score))))
    return steps


def apply_filters(examples: list[Example], cfg: Any) -> tuple[list[Example], dict[str, dict[str, int]]]:
    """Kept examples and the drop funnel {source: {reason: count}} (links stripped first when asked)."""
    dropped: dict[str, Counter] = {}
    kept = []
    steps = make_filters(cfg)
    for ex in examples:
        if cfg.strip_links:
            ex = strip_links(ex)
        reason = next((r for _, f in steps if (r := f(ex)) is not None), None)
        if reason is None:
            kept.append(ex)
        else:
            dropped.setdefault(ex.source, Counter())[reason] += 1
    return kept, {s: dict(c) for s, c in sorted(dropped.items())}
