"""Which process this is, and how it speaks: one place for ranks and console output.

Training may run as many processes (torchrun, SLURM, Lightning's launcher). Before the
process group exists only the environment tells the ranks apart (`is_main_process`);
inside a run torch.distributed does (`rank_world`). Only the main process writes files
and prints; `say` is how everything in doremi prints a line.
"""

from __future__ import annotations

import os
import sys

# Where the run is, for the line printed when a signal stops it: the stage and its last optimizer step;
# while a model trains, a signal waits in "signal" for the end of the step (doremi.training.callbacks.Checkpoints).
where: dict = {"stage": None, "step": None, "training": False, "signal": None}


class Stopped(BaseException):
    """A signal (SIGTERM from a scheduler, SIGINT from Ctrl-C) ends the stage. Not an Exception, so that no
    handler on the way takes it for an error it can recover from (Lightning re-raises it after teardown)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def on_signal(signum: int, frame=None) -> None:
    """While a model trains, stop at the end of the current step (after a checkpoint); else, or at a second
    signal, at once."""
    if where.get("training") and where.get("signal") is None:
        where["signal"] = signum
        return
    raise Stopped(signum)


def is_main_process() -> bool:
    """False in the other processes of a multi-process run (torchrun, SLURM, Lightning's launcher)."""
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(key, "0") not in ("", "0"):
            return False
    return rank_world()[0] == 0


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process in torch.distributed, (0, 1) without it."""
    dist = _distributed()
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def say(message: str) -> None:
    """One line on stderr, from the main process only."""
    if is_main_process():
        print(message, file=sys.stderr, flush=True)


def barrier() -> None:
    """Wait for every process (after the main one has written a stage's output)."""
    dist = _distributed()
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()


def _distributed():
    """torch.distributed if torch is already imported (a run that never imported it has no process group)."""
    torch = sys.modules.get("torch")
    return getattr(torch, "distributed", None) if torch is not None else None


def code_version() -> str:
    """The package version and, in a git checkout, its commit: the provenance of every written mixture."""
    import subprocess
    from pathlib import Path

    from doremi.config.version import VERSION as __version__

    try:
        commit_id = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit_id = ""
    return f"{__version__}+{commit_id}" if commit_id else __version__
