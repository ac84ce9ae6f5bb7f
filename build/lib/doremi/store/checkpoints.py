"""Saved models: one format (`model.pt`: weights, model config, tokenizer, domains, mixture),
one writer and one reader. The reader turns every failure into one line naming the file
and the stage that remakes it."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from doremi.config.errors import DoremiError, first_line
from doremi.store.files import write_atomic


def save_model(path: Path, state_dict: dict, model_cfg: dict, tokenizer: dict, domains: list[str], weights) -> Path:
    """Write a model.pt under a temporary name and rename it (a later stage never reads half a file)."""
    record = {
        "model_config": model_cfg,
        "state_dict": state_dict,
        "tokenizer": tokenizer,
        "domains": list(domains),
        "mixture": dict(zip(domains, weights)),
    }
    return write_atomic(path, lambda tmp: torch.save(record, tmp))


def read_model(path: Path, remake: str) -> dict:
    """A saved model.pt; missing, truncated or foreign files are one error naming `path` and `remake`
    (the stage that writes it, e.g. "stage=reference")."""
    path = Path(path)
    if not path.exists():
        raise DoremiError(f"{path} not found: run {remake} first (same run_dir=)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise DoremiError(
            f"{path} cannot be read ({first_line(err)[:120]}): it is truncated or not a doremi model; "
            f"redo it with {remake} overwrite=true"
        ) from None
    if not isinstance(saved, dict) or not {"state_dict", "model_config"} <= set(saved):
        raise DoremiError(
            f"{path} is not a doremi model.pt (no state_dict/model_config): redo it with {remake} overwrite=true"
        )
    return saved
