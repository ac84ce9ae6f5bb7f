"""What every stage shares: its output directory, skip/overwrite rules, input checks."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.config.keys import file_digest, flat, select  # noqa: F401  (stages import file_digest from here)
from doremi.data.heldout import (
    heldout_for,  # noqa: F401  (stages import it from here)
)
from doremi.data.packing import PackedData
from doremi.pipeline.graph import TABLE, names, producer
from doremi.pipeline.prepared import load_prepared, stage_dir  # noqa: F401  (stages import them from here)
from doremi.store.checkpoints import read_model
from doremi.store.files import no_links, write_atomic, write_json_atomic
from doremi.store.files import read_record as bookkeeping
from doremi.store.runtime import barrier, is_main_process, say  # noqa: F401  (stages import is_main_process and say from here)
from doremi.training.model import model_config  # noqa: F401  (stages import it from here)


def quiet_lightning() -> None:
    """Keep the screen for our own progress lines: Lightning's banners and hints go."""
    import pytorch_lightning  # noqa: F401  (its import sets its loggers to INFO; override after)

    for name in ("pytorch_lightning", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (
        ".*does not have many workers.*",
        ".*infer the `batch_size`.*",
        ".*LeafSpec.*",
        ".*is an instance of `nn.Module` and is already saved.*",
        ".*`training_step` returned `None`.*",
        ".*defined a `validation_step` but have no `val_dataloader`.*",
        ".*module\\(s\\) in eval mode at the start of training.*",  # the proxy's frozen reference
        ".*val_dataloader.*but have no `validation_step`.*",
        ".*smaller than the logging interval.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


_select, _flat = select, flat  # the names of 0.6.0


def declared(stage: str, cfg: DictConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The stage's row of the stage graph (doremi.pipeline.graph): the artifacts it reads and the
    keys whose values decide its output."""
    row = TABLE[stage]
    return names(row.inputs, cfg), names(row.settings, cfg)


def stage_settings(cfg: DictConfig, stage: str) -> dict[str, Any]:
    """What decides a stage's output: its settings, the files they name, and each input's fingerprint
    (the done.json of the stage that made it). A missing or unfinished input is one error naming it."""
    from doremi.pipeline.graph import ARTIFACTS, require

    inputs, keys = declared(stage, cfg)
    settings: dict[str, Any] = {}
    for key in keys:
        settings.update(flat(key, select(cfg, key)))
    for key, value in list(settings.items()):
        digest = file_digest(value)
        if digest:
            settings[f"{key} file"] = digest
        elif isinstance(value, list) and any(file_digest(v) for v in value):  # compare.methods' mixture files
            settings[f"{key} files"] = [file_digest(v) for v in value]
    if stage == "prepare":  # files named through lists and globs: an edited corpus makes prepare stale
        from doremi.data.sources import input_files

        settings["data files"] = fingerprint(input_files(cfg.data))
    for artifact in inputs:
        require(cfg, artifact, stage)
        folder = producer(cfg, artifact)
        way_out = f"rerun stage={ARTIFACTS[artifact].stage} with overwrite=true"
        done = bookkeeping(folder / "done.json", None, way_out)
        if "fingerprint" not in done:
            raise DoremiError(f"{folder / 'done.json'} is not a stage's record (no 'fingerprint'); {way_out}")
        settings[f"{ARTIFACTS[artifact].stage} output"] = done["fingerprint"]
    return json.loads(json.dumps(settings, default=str))


def set_values(settings: dict) -> dict:
    """The settings that hold a value: a key at null and a key absent say the same (configs before the schema
    lacked keys that it now holds at null), so a finished stage compares equal across them."""
    return {k: v for k, v in settings.items() if v is not None}


def fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class StageOutput:
    stage: str
    final: Path
    tmp: Path
    settings: dict
    publish: dict[str, Path] = field(default_factory=dict)  # file in the output -> its published copy


def start(
    cfg: DictConfig, stage: str, final: Path | None = None, publish: dict[str, Path] | None = None
) -> StageOutput | None:
    """Begin a stage: None if its finished output can be reused, else a fresh temporary dir.

    A finished stage is never silently replaced: with other settings it is an error naming
    the first changed key, unless `overwrite=true`. `publish` ({file of the output: where a copy
    goes}, e.g. proxy's mixture.json -> mixtures/<name>.json) is part of finishing: `commit` makes
    the copies before marking the stage done, and reusing a done stage repairs a missing or changed copy.
    """
    publish = dict(publish or {})
    final = final or stage_dir(cfg, stage)
    tmp = final.with_name(final.name + ".partial")
    for dest in publish.values():
        not_another_runs(cfg, Path(dest))
    if Path(final).absolute().is_relative_to(Path(cfg.run_dir).absolute()):  # prepare.reuse may point elsewhere
        for folder in (final, tmp, final.with_name(final.name + ".old")):
            no_links(folder, cfg.run_dir)
    settings = stage_settings(cfg, stage)
    done = final / "done.json"
    if is_main_process():
        recover_swap(final)
    if done.exists() and not cfg.overwrite:
        before = set_values(bookkeeping(done, "settings", f"delete {final} or pass overwrite=true"))
        now = set_values(settings)
        if before == now:
            say(f"[{stage}] already done in {final} with these settings; reusing it (overwrite=true redoes it)")
            check_outputs(final, bookkeeping(done, None, f"delete {final} or pass overwrite=true"), stage)
            if is_main_process():
                copy_published(final, publish, stage, repair=True)
            return None
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        key = changed[0]
        raise DoremiError(
            f"{final} was made with other settings ({key}: {before.get(key)!r} -> {now.get(key)!r}"
            f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}); "
            "pass overwrite=true to redo it or use another run_dir="
        )
    if not is_main_process():  # the main process owns the directory; the others only train
        return StageOutput(stage, final, tmp, settings, publish)
    if tmp.exists() and cfg.resume:
        before = bookkeeping(tmp / "settings.json", None, f"delete {tmp}") if (tmp / "settings.json").exists() else None
        if before is not None and set_values(before) == set_values(settings):
            say(f"[{stage}] resume={cfg.resume}: continuing the interrupted run in {tmp}")
            return StageOutput(stage, final, tmp, settings, publish)
        say(f"[{stage}] {tmp} was started with other settings; starting over")
    elif tmp.exists() and any(tmp.rglob("step-*.ckpt")):
        say(f"[{stage}] discarding the interrupted run in {tmp} (resume=auto would continue it)")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_json_atomic(tmp / "settings.json", settings)
    return StageOutput(stage, final, tmp, settings, publish)


def check_outputs(folder: Path, done: dict, stage: str) -> None:
    """Every file a finished stage recorded in its done.json is still the file it wrote: a reused stage neither
    republishes nor hands on an edited one."""
    from doremi.store.files import file_record

    for relative, recorded in (done.get("outputs") or {}).items():
        if file_record(folder / relative) != recorded:
            raise DoremiError(
                f"{folder / relative} is not the file stage={stage} wrote (its content changed since); nothing is "
                f"published or reused from it: rerun stage={stage} with overwrite=true"
            )


def swap_in(new: Path, final: Path) -> None:
    """Put the finished folder `new` in the place of `final` so that a kill at any moment leaves one of
    them whole: the old one is renamed aside, the new one renamed in, then the old one removed."""
    aside = final.with_name(final.name + ".old")
    if aside.exists():
        shutil.rmtree(aside)
    if final.exists():
        final.rename(aside)
    new.rename(final)
    if aside.exists():
        shutil.rmtree(aside)


def not_another_runs(cfg: DictConfig, dest: Path) -> None:
    """Publishing over a mixture that another run learned is refused unless replace_published=true (overwrite=true
    redoes one's own stage, nothing more): two runs with the same name and mixtures_dir would otherwise replace
    each other's mixtures/<name>.json without a word."""
    if cfg.get("replace_published") or not dest.is_file():
        return
    try:
        other = json.loads(dest.read_text())["provenance"]["config"]["run_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # not one of ours (or hand-written): the stage's own checks read it
    if Path(str(other)).resolve() != Path(str(cfg.run_dir)).resolve():
        raise DoremiError(
            f"{dest} holds the mixture learned by run_dir={other}, not this run ({cfg.run_dir}); choose another "
            "name= (or mixtures_dir=), or pass replace_published=true to replace it"
        )


def recover_swap(final: Path) -> None:
    """Finish a swap_in that a kill interrupted: the finished new folder, else the old one, goes back in place."""
    if final.exists():
        return
    for candidate in (final.with_name(final.name + ".partial"), final.with_name(final.name + ".old")):
        if (candidate / "done.json").is_file():
            candidate.rename(final)
            say(f"[{final.name}] an interrupted swap left {candidate}: moved it back to {final}")
            return


def copy_published(directory: Path, publish: dict[str, Path], stage: str, repair: bool = False) -> None:
    """Copy each promised file of `directory` to its published place (atomically); with `repair`,
    only the copies that are missing or differ, saying so."""
    for relative, dest in publish.items():
        source = directory / relative
        if not source.is_file():
            raise DoremiError(f"{source} is missing: the {stage} output is broken; redo it with overwrite=true")
        data = source.read_bytes()
        if repair and Path(dest).is_file() and Path(dest).read_bytes() == data:
            continue
        write_atomic(dest, lambda tmp, data=data: tmp.write_bytes(data))
        if repair:
            say(f"[{stage}] {dest} was missing or changed: published it again from {source}")


def commit(out: StageOutput) -> Path:
    """Mark the stage done and move its output into place (all or nothing); checkpoints go."""
    if is_main_process():
        for directory in list(out.tmp.rglob("checkpoints")):
            shutil.rmtree(directory)
        (out.tmp / "settings.json").unlink(missing_ok=True)
        copy_published(out.tmp, out.publish, out.stage)  # published before the stage counts as done
        from doremi.pipeline.graph import recorded_outputs

        record = {"settings": out.settings, "fingerprint": fingerprint(out.settings)}
        if out.stage in TABLE:
            record["outputs"] = recorded_outputs(out.stage, out.tmp)
        write_json_atomic(out.tmp / "done.json", record)
        swap_in(out.tmp, out.final)
    barrier()
    return out.final


def load_checkpoint(path: Path, data: PackedData, what: str) -> dict:
    """A saved model of an earlier stage, checked against the prepared data it must match."""
    saved = read_model(path, what)
    if saved["tokenizer"] != data.tokenizer:
        raise DoremiError(
            f"{path} was trained with tokenizer {saved['tokenizer']} but {data.dir} uses {data.tokenizer}; "
            "rerun the stages after prepare"
        )
    if saved["domains"] != data.domains:
        raise DoremiError(f"{path} was trained on domains {saved['domains']} but the data has {data.domains}")
    return saved
