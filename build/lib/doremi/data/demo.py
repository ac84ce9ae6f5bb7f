"""The embedded demo corpus: real text found on every machine with Python.

Domains of clearly different character, all from the running interpreter's own files:

- `code`:       standard-library source modules
- `tests`:      the standard library's own test suite (absent on some Linux distributions)
- `docstrings`: docstrings pulled out of standard-library modules with `ast`
- `docs`:       the reference-manual topics that ship with `pydoc` (English prose)
- `c_headers`:  CPython's C headers (absent where no development headers are installed)
- `comments`:   `#` comments from standard-library source (used only to reach five domains)

The corpus is deterministic on a given interpreter: files are taken in an order fixed
by a hash of their relative path, cut into documents of at most `DOC_CHARS` characters
at line boundaries, and each domain is capped at `max_chars` characters.
"""

from __future__ import annotations

import ast
import hashlib
import io
import sysconfig
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path

DOC_CHARS = 4000
MIN_DOMAINS = 5


def _stable_order(paths: list[Path], root: Path) -> list[Path]:
    return sorted(paths, key=lambda p: hashlib.sha1(str(p.relative_to(root)).encode()).hexdigest())


def read_source(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _pieces(text: str) -> Iterator[str]:
    """Cut text into documents of at most DOC_CHARS characters, at line boundaries."""
    piece: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > DOC_CHARS and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line[:DOC_CHARS])
        size += len(piece[-1])
    if piece and "".join(piece).strip():
        yield "".join(piece)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def library_modules() -> list[Path]:
    root = stdlib_dir()
    skip = {"test", "site-packages", "dist-packages", "idlelib", "lib2to3", "tkinter"}
    files = [p for p in root.rglob("*.py") if not (set(p.relative_to(root).parts[:-1]) & skip)]
    return _stable_order(files, root)


def _code() -> Iterator[str]:
    for path in library_modules():
        text = read_source(path)
        if text:
            yield from _pieces(text)


def _tests() -> Iterator[str]:
    root = stdlib_dir()
    for path in _stable_order(list((root / "test").glob("test_*.py")), root):
        text = read_source(path)
        if text:
            yield from _pieces(text)


def _docstrings() -> Iterator[str]:
    for path in library_modules():
        text = read_source(path)
        try:
            tree = ast.parse(text or "")
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    yield from _pieces(doc)


def _docs() -> Iterator[str]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield from _pieces(topics[name])


def _c_headers() -> Iterator[str]:
    root = Path(sysconfig.get_paths()["include"])
    if not root.is_dir():
        return
    for path in _stable_order(list(root.rglob("*.h")), root):
        text = read_source(path)
        if text:
            yield from _pieces(text)


def _comments() -> Iterator[str]:
    for path in library_modules():
        text = read_source(path) or ""
        lines = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.COMMENT and len(tok.string) > 3:
                    lines.append(tok.string.lstrip("#").strip())
        except (tokenize.TokenError, SyntaxError, IndentationError):
            continue
        if lines:
            yield from _pieces("\n".join(lines) + "\n")


CANDIDATES: dict[str, Callable[[], Iterator[str]]] = {
    "code": _code,
    "tests": _tests,
    "docstrings": _docstrings,
    "docs": _docs,
    "c_headers": _c_headers,
    "comments": _comments,
}


def _capped(docs: Iterator[str], max_chars: int) -> list[str]:
    out, total = [], 0
    for doc in docs:
        if total >= max_chars:
            break
        out.append(doc)
        total += len(doc)
    return out


def demo_corpus(max_chars: int = 400_000) -> dict[str, list[str]]:
    """Domain name -> documents. At least five domains, each capped at max_chars characters."""
    corpus: dict[str, list[str]] = {}
    for name, make in CANDIDATES.items():
        if len(corpus) >= MIN_DOMAINS and name == "comments":
            break
        docs = _capped(make(), max_chars)
        if sum(len(d) for d in docs) >= max_chars // 4:
            corpus[name] = docs
    return corpus
