"""One process per stage and run directory: a stage holds an exclusive lock while it runs.

The lock is an flock on `<run_dir>/.locks/<stage>.lock`, so the kernel releases it when the
holder exits, however it exits (a kill -9 leaves no stale lock). The file names the holder
(process id, machine, start time); a second process asking for the same stage stops at
once with that name instead of waiting or writing beside it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from doremi.config.errors import DoremiError


@contextmanager
def stage_lock(run_dir: str | Path, stage: str, wait: bool = False) -> Iterator[Path]:
    """Hold `stage`'s lock in `run_dir` for the body; DoremiError naming the holder if another process has it, or
    with `wait` (a compare's trial: the second job reuses what the first trains), wait for it, saying so."""
    directory = Path(run_dir) / ".locks"
    directory.mkdir(parents=True, exist_ok=True)
    if directory.is_symlink():
        raise DoremiError(f"{directory} is a symbolic link; the tool opens nothing through one: remove it")
    path = directory / f"{stage}.lock"
    try:  # never through a link planted in the run (it would empty the file it points to)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if path.is_symlink():
            raise DoremiError(f"{path} is a symbolic link; the tool opens nothing through one: remove it") from None
        raise err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        if not wait:
            os.close(fd)
            raise DoremiError(
                f"stage={stage} in {run_dir} is already running ({holder}; lock {path}): wait for it to finish, "
                "or use another run_dir="
            ) from None
        from doremi.store.runtime import say

        say(f"[{stage}] held by {holder} (lock {path}): waiting for it, then reusing what it made")
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        os.ftruncate(fd, 0)
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        yield path
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
