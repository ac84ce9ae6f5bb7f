"""The seam every mixture method plugs into: what `learn` gets, and what a method declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig


@dataclass
class LearnContext:
    """What a method's `learn` gets: the run's config (with a variant's overrides), the prepared data,
    a folder of its own inside the learn stage's output, and the final run's token budget."""

    cfg: DictConfig
    data: object  # doremi.data.packing.PackedData
    folder: Path
    name: str  # the registry entry, e.g. doremi+burn_in


@dataclass(frozen=True)
class Method:
    name: str
    doc: str
    learn: Callable[[LearnContext], dict]
    inputs: tuple[str, ...] = ("prepared",)
    writes: tuple[str, ...] = ("learned_mixture",)  # artifacts of doremi.stages.graph it makes
    settings: tuple[str, ...] = ()
    report: Callable[[DictConfig, dict, Path], list] | None = None  # (cfg, mixture, report folder) -> sections
    overrides: Callable[[DictConfig], dict] | None = None  # a variant's settings
    trains: bool = False  # learning it trains models (its cost is not 0)
