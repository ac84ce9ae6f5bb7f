"""Writing artifacts so that a later stage never reads a half-written file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from doremi.errors import DoremiError


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a temporary name beside `path`, then rename it over `path`;
    on failure (a full disk) the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temporary name beside `path`, then rename over it."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, what: str) -> Any:
    """Read a JSON artifact, naming the file and the stage that makes it when it is missing or broken."""
    path = Path(path)
    if not path.exists():
        raise DoremiError(f"{path} not found: {what}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DoremiError(f"{path} is not valid JSON (line {err.lineno}): {err.msg}") from None


def read_jsonl(path: str | Path) -> list[dict]:
    """Every non-empty line of a JSON-lines artifact (a trajectory)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build a directory under a temporary name; move it into place only if the body succeeds."""
    final = Path(final)
    tmp = final.with_name(final.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
