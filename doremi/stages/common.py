"""What every stage shares: its output directory, skip/overwrite rules, input checks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from doremi.data.heldout import HeldOut, heldout_set
from doremi.data.packing import PackedData
from doremi.data.tokenizer import load_saved
from doremi.errors import DoremiError
from doremi.files import write_json_atomic
from doremi.settings import number  # noqa: F401  (stages import it from here)

# The config keys whose values decide each stage's output. A finished stage is reused
# only when these (and its upstream stage's) settings are unchanged.
STAGE_SETTINGS = {
    "prepare": ["data", "tokenizer", "model.seq_len"],
    "reference": ["model", "optim", "reference", "seed"],
    "proxy": [
        "model",
        "optim",
        "proxy",
        "dro",
        "warn",
        "seed",
        "rounds",
        "rounds_tolerance",
        "reference.max_steps",
        "final.eval_chunks",
    ],
    "final": ["model", "optim", "final", "seed"],
    "sft_mix": ["sft", "dro", "seed"],  # dro and seed: for sft.mixture=learned
    "sft": ["sft", "seed"],
}
UPSTREAM = {"reference": "prepare", "proxy": "reference", "final": "proxy", "sft": "sft_mix"}


def is_main_process() -> bool:
    """False in the other processes of a multi-process run (torchrun, SLURM, Lightning's launcher)."""
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(key, "0") not in ("", "0"):
            return False
    return True


def say(message: str) -> None:
    if is_main_process():
        print(message, file=sys.stderr, flush=True)


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


def stage_dir(cfg: DictConfig, stage: str) -> Path:
    return Path(cfg.run_dir) / stage


def _select(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}", v))
        return out
    return {prefix: value}


def stage_settings(cfg: DictConfig, stage: str) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in STAGE_SETTINGS[stage]:
        settings.update(_flat(key, _select(cfg, key)))
    upstream = UPSTREAM.get(stage)
    if upstream:
        done = stage_dir(cfg, upstream) / "done.json"
        settings[f"{upstream} output"] = json.loads(done.read_text())["fingerprint"] if done.exists() else None
    return json.loads(json.dumps(settings, default=str))


def fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class StageOutput:
    stage: str
    final: Path
    tmp: Path
    settings: dict


def start(cfg: DictConfig, stage: str, final: Path | None = None) -> StageOutput | None:
    """Begin a stage: None if its finished output can be reused, else a fresh temporary dir.

    A finished stage is never silently replaced: with other settings it is an error naming
    the first changed key, unless `overwrite=true`.
    """
    final = final or stage_dir(cfg, stage)
    settings = stage_settings(cfg, stage)
    done = final / "done.json"
    if done.exists() and not cfg.overwrite:
        before = json.loads(done.read_text()).get("settings", {})
        if before == settings:
            say(f"[{stage}] already done in {final} with these settings; reusing it (overwrite=true redoes it)")
            return None
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        key = changed[0]
        raise DoremiError(
            f"{final} was made with other settings ({key}: {before.get(key)!r} -> {settings.get(key)!r}"
            f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}); "
            "pass overwrite=true to redo it or use another run_dir="
        )
    tmp = final.with_name(final.name + ".partial")
    if not is_main_process():  # the main process owns the directory; the others only train
        return StageOutput(stage, final, tmp, settings)
    if tmp.exists() and cfg.resume:
        before = json.loads((tmp / "settings.json").read_text()) if (tmp / "settings.json").exists() else None
        if before == settings:
            say(f"[{stage}] resume={cfg.resume}: continuing the interrupted run in {tmp}")
            return StageOutput(stage, final, tmp, settings)
        say(f"[{stage}] {tmp} was started with other settings; starting over")
    elif tmp.exists() and any(tmp.rglob("step-*.ckpt")):
        say(f"[{stage}] discarding the interrupted run in {tmp} (resume=auto would continue it)")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_json_atomic(tmp / "settings.json", settings)
    return StageOutput(stage, final, tmp, settings)


def commit(out: StageOutput) -> Path:
    """Mark the stage done and move its output into place (all or nothing); checkpoints go."""
    if is_main_process():
        for directory in list(out.tmp.rglob("checkpoints")):
            shutil.rmtree(directory)
        (out.tmp / "settings.json").unlink(missing_ok=True)
        write_json_atomic(out.tmp / "done.json", {"settings": out.settings, "fingerprint": fingerprint(out.settings)})
        if out.final.exists():
            shutil.rmtree(out.final)
        out.tmp.rename(out.final)
    barrier()
    return out.final


def barrier() -> None:
    """Wait for every process (after the main one has written a stage's output)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def load_prepared(cfg: DictConfig) -> PackedData:
    """The prepare stage's output, checked against this run's sequence length."""
    data = PackedData(stage_dir(cfg, "prepare"))
    wanted = OmegaConf.to_container(cfg.tokenizer, resolve=True)
    had = data.manifest.get("tokenizer_config", {})
    for key in sorted(set(wanted) | set(had)):
        if wanted.get(key) != had.get(key):
            raise DoremiError(
                f"tokenizer.{key}={wanted.get(key)} but {data.dir} was prepared with tokenizer.{key}={had.get(key)} "
                f"({data.tokenizer['kind']}, {data.tokenizer['vocab_size']} ids); rerun stage=prepare with overwrite=true"
            )
    if data.seq_len != int(cfg.model.seq_len):
        raise DoremiError(
            f"model.seq_len={cfg.model.seq_len} but {data.dir} holds {data.seq_len}-token sequences; "
            f"set model.seq_len={data.seq_len} or rerun stage=prepare with overwrite=true"
        )
    return data


def model_config(cfg: DictConfig, data: PackedData) -> dict:
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["vocab_size"] = int(data.tokenizer["vocab_size"])
    return model


def load_checkpoint(path: Path, data: PackedData, what: str) -> dict:
    """A saved model of an earlier stage, checked against the prepared data it must match."""
    if not path.exists():
        raise DoremiError(f"{path} not found: run {what} first (same run_dir=)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["tokenizer"] != data.tokenizer:
        raise DoremiError(
            f"{path} was trained with tokenizer {saved['tokenizer']} but {data.dir} uses {data.tokenizer}; "
            "rerun the stages after prepare"
        )
    if saved["domains"] != data.domains:
        raise DoremiError(f"{path} was trained on domains {saved['domains']} but the data has {data.domains}")
    return saved


def code_version() -> str:
    from doremi import __version__

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


def heldout_for(cfg: DictConfig, data) -> HeldOut:
    cap = cfg.final.eval_chunks
    if cap is not None and (isinstance(cap, bool) or int(cap) < 1):
        raise DoremiError(f"final.eval_chunks={cap}: give a number of sequences per domain (1 or more) or null (all)")
    tokenizer = load_saved(data.dir, str(cfg.tokenizer.kind))
    return heldout_set(data, None if cap is None else int(cap), tokenizer.eod_id, tokenizer.token_bytes())
