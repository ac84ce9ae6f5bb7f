"""A trial's folder under <run_dir>/trials/ held to the rules stages follow: no symbolic link followed on the way
to it, one process training it at a time (a second job waits, then reuses the result), and a record of what it
wrote (trial.json: the record of result.json), checked whenever the result is read, so that an edited or
foreign result is never judged. Used by stage=compare's and stage=sft_compare's trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from doremi.config.errors import DoremiError
from doremi.store.files import file_record, no_links, read_json, write_json_atomic
from doremi.store.lock import stage_lock

RECORDED = ("result.json", "schedule.jsonl")


def finished(run_dir: str | Path, where: Path) -> dict | None:
    """The trial's result when it finished (checked against its record), else None."""
    no_links(where, run_dir)
    if not (where / "result.json").is_file():
        return None
    record = where / "trial.json"
    recorded = read_json(record, "") if record.is_file() else {}
    for name in RECORDED:
        if (where / name).is_file() and recorded.get(name) != file_record(where / name):
            raise DoremiError(
                f"{where / name} is not the file its trial wrote (edited, replaced, or written without a record); "
                f"it will not be judged: delete {where} and rerun to train the trial again"
            )
    return read_json(where / "result.json", "")


def train_once(run_dir: str | Path, where: Path, train: Callable[[], dict], main: bool = True) -> dict:
    """The trial's result: reused when finished, else trained by `train` under the trial's lock (a job that finds
    another training it waits, then reuses its result) and recorded."""
    done = finished(run_dir, where)
    if done is not None:
        return done
    with stage_lock(run_dir, f"trial-{where.name}", wait=True):
        done = finished(run_dir, where)
        if done is not None:
            return done
        result = train()
        if main:
            write_json_atomic(
                where / "trial.json", {n: file_record(where / n) for n in RECORDED if (where / n).is_file()}
            )
        return result
