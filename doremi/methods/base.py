"""The seam every mixture method plugs into: what `learn` gets, and what a method declares.

A method never imports the stage table or a recipe: whatever it needs from the stages (an artifact
of this run, the swarm of small runs, the scale check) reaches it through its context, and the
stages it needs run before it (`needs`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig


@dataclass
class LearnContext:
    """What a method's `learn` gets: the run's config (with a variant's overrides), the prepared data,
    a folder of its own inside the learn stage's output, its registry name, and the stages' services."""

    cfg: DictConfig
    data: object  # doremi.data.packing.PackedData
    folder: Path
    name: str  # the registry entry, e.g. doremi+burn_in
    locate: Callable[[str], Path] = None  # artifact name -> its path in this run (doremi.pipeline.graph.locate)
    swarm: Callable[[bool], tuple[list, list]] = None  # train missing? -> (finished runs, missing ids)
    scale_check: Callable[..., dict] = None  # (weights, target kind, indices, swarm runs) -> the swarm's check


@dataclass(frozen=True)
class ReportContext:
    """What a method's report section gets: the config, its mixture, the report folder, and `locate`."""

    cfg: DictConfig
    mixture: dict
    folder: Path
    locate: Callable[[str], Path]


@dataclass(frozen=True)
class OnlineSetup:
    """What an online method's training-time part gets: the run's domains, the settings its `learn` recorded
    (provenance.online), where its schedule goes, the final run's length, and a probe set drawn from the
    training split (never the held-out documents the verdicts score)."""

    domains: list[str]
    settings: dict
    schedule: Path  # <mixture>/seed-<s>/schedule.jsonl
    max_steps: int
    seed: int
    probe: Callable[[int], object] = None  # sequences per domain -> (domain ids, token rows) of the training split


@dataclass(frozen=True)
class Method:
    name: str
    doc: str
    learn: Callable[[LearnContext], dict]
    inputs: tuple[str, ...] = ("prepared",)
    settings: tuple[str, ...] = ()  # its own settings (the stages it needs add theirs)
    needs: tuple[str, ...] = ()  # stages run before it learns, e.g. DoReMi: reference, proxy
    sections: tuple[tuple[str, type, str], ...] = ()  # its settings sections: (key, dataclass, doc), in the schema
    report: Callable[[ReportContext], list] | None = None  # its sections of the report
    describe: Callable[[dict], str] | None = None  # provenance -> how its mixture was learned, for the report's intro
    cost_words: Callable[[dict], str] | None = None  # provenance.cost -> what its FLOPs were spent on, for the report
    made_by: str | None = None  # a stage whose finished output is also its learned mixture (DoReMi: a bare stage=proxy)
    online: Callable[[OnlineSetup], object] | None = None  # the training-time part: a Lightning callback
    overrides: Callable[[DictConfig], dict] | None = None  # a variant's settings
    joins_target: bool = False  # joins a compare judged on target.paths when no listed method aims at the target
