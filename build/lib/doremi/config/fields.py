"""The schema's building blocks: a setting with its doc and bounds, a nested section (doremi.config.schema)."""

from __future__ import annotations

import copy
from dataclasses import field
from typing import Any, Union

from omegaconf import MISSING, DictConfig

from doremi.config.errors import DoremiError

Number = Union[int, float]


def s(default: Any = MISSING, doc: str = "", *, choices: tuple[str, ...] | None = None, open_map: bool = False,
      **bounds: float):  # fmt: skip
    """A setting: its default, a one-line doc, its bounds (ge, gt, le, lt) or its choices; `open_map`: a map of the
    user's own names (data.domains={wiki: ...}), below which any key goes."""
    meta = {"doc": doc, "bounds": bounds, "choices": choices, "open_map": open_map}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, doc: str = ""):
    """A nested section with a doc line for --help."""
    return field(default_factory=cls, metadata={"doc": doc, "section": True})


def betas_rule(cfg: DictConfig, key: str) -> None:
    from omegaconf import OmegaConf

    betas = OmegaConf.select(cfg, key)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise DoremiError(f"{key}={list(betas)}: expected two numbers in [0, 1), like {key}=[0.9,0.95]")
