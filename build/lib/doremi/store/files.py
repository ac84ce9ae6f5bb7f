"""Writing artifacts so that a later stage never reads a half-written file."""

from __future__ import annotations

import errno
import json
import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from doremi.config.errors import DoremiError


def safe_file_name(name: str) -> str:
    """`name` as a single file name that stays inside its directory: characters other than letters,
    digits, space and `+_-.` percent-encoded (a '/' cannot appear), and '.' or '..' encoded whole."""
    quoted = urllib.parse.quote(name, safe=" +_-.")
    return quoted.replace(".", "%2E") if quoted in ("", ".", "..") else quoted


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a temporary name beside `path`, then rename it over `path`;
    on failure (a full disk) the temporary file is removed and `path` is left as it was. The temporary
    name is the process's own, so processes writing the same file (a swarm's jobs) never share one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except RuntimeError as err:  # torch.save's writer reports a short write (a full disk, a size limit) so
        tmp.unlink(missing_ok=True)
        raise OSError(errno.EIO, str(err).strip().splitlines()[0], str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_failure(err: OSError, fallback: str | None = None) -> str:
    """One line for a failed read or write: the file (or `fallback`, the folder being written when the error
    names none), the reason, and the file-size limit when one is set (ulimit -f)."""
    import resource

    where = err.filename or fallback
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = (
        "" if soft == resource.RLIM_INFINITY else f"; files are limited to {soft:,} bytes here (ulimit -f): raise it"
    )
    return f"could not read or write{f' {where}' if where else ''}: {err.strerror or err}{limit}; free space or fix the path"


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temporary name beside `path`, then rename over it."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _bounded_int(digits: str) -> int | float:
    """A JSON integer; one of more than 300 digits (beyond any weight, count or step) reads as infinity, which every
    reader of a number refuses with its own line, instead of Python's limit on integer conversion raising."""
    return float("inf") if len(digits.lstrip("-")) > 300 else int(digits)


def file_record(path: Path) -> str:
    """What a stage's done.json records of a file it wrote, checked cheaply when a later stage reads it: the
    SHA-256 of its content up to 64 MiB, its size beyond (a model checkpoint)."""
    import hashlib

    path = Path(path)
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size > 64 << 20:
        return f"{size} bytes"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:32]


def parse_json(text: str, where: str) -> Any:
    """JSON text, or one error naming `where` (a file, a file and line) and what is wrong."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as err:
        raise DoremiError(f"{where} is not valid JSON (line {err.lineno}): {err.msg}") from None
    except RecursionError:
        raise DoremiError(f"{where} is nested too deeply to be a doremi file") from None


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError as err:
        raise DoremiError(f"{path} is not UTF-8 text (byte {err.start})") from None


def read_json(path: str | Path, what: str) -> Any:
    """Read a JSON artifact, naming the file and the stage that makes it when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise DoremiError(f"{path} not found: {what}")
    return parse_json(read_text(path), str(path))


def read_jsonl(path: str | Path) -> list[dict]:
    """Every non-empty line of a JSON-lines artifact (a trajectory); a broken line is named."""
    path = Path(path)
    lines = read_text(path).splitlines()
    return [parse_json(line, f"{path}:{i}") for i, line in enumerate(lines, start=1) if line.strip()]


def read_record(path: str | Path, field: str | None, way_out: str) -> dict:
    """A stage's own record (done.json, settings.json): a JSON object (its `field`, itself an object), else one
    error naming the file."""
    record = read_json(path, way_out)
    if not isinstance(record, dict) or (field is not None and not isinstance(record.get(field), dict)):
        raise DoremiError(
            f"{path} is not a stage record (a JSON object{f' with {field!r}' if field else ''}); {way_out}"
        )
    return record[field] if field else record


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build a directory under a temporary name; move it into place only if the body succeeds."""
    final = Path(final)
    tmp = final.with_name(final.name + ".partial")
    for folder in (tmp, final):
        if folder.is_symlink():
            raise DoremiError(
                f"{folder} is a symbolic link: the tool never writes through a link; remove it (or choose another name=)"
            )
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


def no_links(path: str | Path, root: str | Path) -> Path:
    """`path`, checked to lie inside `root` with no symbolic link on the way (a link planted in a run would
    send what the tool writes elsewhere); one error naming the link otherwise."""
    path, root = Path(path), Path(root)
    try:
        relative = path.absolute().relative_to(root.absolute())
    except ValueError:
        raise DoremiError(f"{path} is outside {root}; the tool writes only inside the run's folders") from None
    current = root.absolute()
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise DoremiError(f"{current} is a symbolic link; the tool writes nothing through one: remove it")
    return path
