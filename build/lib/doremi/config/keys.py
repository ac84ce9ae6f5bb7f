"""Settings read by key and fingerprinted: one helper for every settings hash (a stage's, a trial's, an SFT set's),
and the keys that decide what a final-sized training trains."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Settings of every training stage that change what it trains (beside its own section).
TRAINING = ("trainer.grad_clip", "trainer.accumulate_grad_batches", "trainer.precision")
# What one final-sized training (stage=final's, a compare's trial) trains by.
FINAL_SETTINGS = ("model", "optim", "final", "reference.mixture", "seed", "plan.max_epochs", *TRAINING)


def select(cfg: DictConfig, key: str) -> Any:
    """The value at a dotted key, as plain Python (a section as a dict)."""
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def flat(prefix: str, value: Any) -> dict[str, Any]:
    """{dotted key: value} of a value that may be a nested dict."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flat(f"{prefix}.{k}", v))
        return out
    return {prefix: value}


def flat_settings(cfg: DictConfig, keys) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        out.update(flat(key, select(cfg, key)))
    return out


def digest(value: Any, length: int = 12) -> str:
    """The sha256 of a value's sorted JSON, cut to `length` hex digits: every settings hash of the tool."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def file_digest(value: Any) -> str | None:
    """sha256 of a file a setting names (a mixture .json, a model.pt), so that a changed file marks the stage stale."""
    if not isinstance(value, str) or not value.endswith((".json", ".pt", ".jsonl")):
        return None
    path = Path(value)
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
