"""Settings checked at the door, against the schema (doremi.config.schema).

OmegaConf refuses a wrong type while Hydra composes the config (`compose_checked` turns its
refusal into one line naming the key); `check(cfg)` then checks every field's bounds and
choices and each section's cross-key rules, before any stage reads a file or trains a step.
`of(cfg, Section)` gives a component its section as a dataclass; components never take the
root config.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from doremi.config import schema
from doremi.config.errors import DoremiError, first_line
from doremi.config.schema import Dro as DroSettings  # noqa: F401  (components' names for their sections)
from doremi.config.schema import Optim as OptimSettings  # noqa: F401
from doremi.config.schema import Sft as SftSettings  # noqa: F401
from doremi.config.schema import seeds_of  # noqa: F401  (stages import it from here)


@dataclass
class TrainerSettings(schema.Trainer):
    """What a training loop needs: the trainer section with the checkpoint settings and `resume`."""

    checkpoint_every: int = field(default=100, metadata={"key": "checkpoint.every"})
    checkpoint_keep: int = field(default=2, metadata={"key": "checkpoint.keep"})
    resume: Any = field(default=None, metadata={"key": "resume"})


SECTIONS = {"dro": DroSettings, "optim": OptimSettings, "sft": SftSettings, "trainer": TrainerSettings}


def of(cfg: DictConfig, cls):
    """The section `cls` of `cfg` as a dataclass (nested sections too), interpolations resolved."""
    prefix = next(name for name, c in SECTIONS.items() if c is cls)
    node = OmegaConf.select(cfg, prefix)
    values = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key") or f"{prefix}.{f.name}"
        value = OmegaConf.select(cfg, key, default=None) if "key" in f.metadata else node[f.name]
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_object(value)
        values[f.name] = value
    return cls(**values)


def _span(bounds: dict) -> str:
    show = lambda x: str(int(x)) if float(x).is_integer() else f"{x:g}"  # noqa: E731
    low = f"[{show(bounds['ge'])}" if "ge" in bounds else f"({show(bounds['gt'])}" if "gt" in bounds else "(-inf"
    high = f"{show(bounds['le'])}]" if "le" in bounds else f"{show(bounds['lt'])})" if "lt" in bounds else "inf)"
    return f"{low}, {high}"


def fields() -> list[tuple[str, dataclasses.Field, Any]]:
    """(key, field, its type) for every setting of the schema, nested sections flattened (built once)."""
    return list(field_table().values())


def field_table() -> dict[str, tuple[str, dataclasses.Field, Any]]:
    """{key: (key, field, its type)} for every setting of the schema."""
    return _table(schema.root())


@functools.cache
def _table(root) -> dict[str, tuple[str, dataclasses.Field, Any]]:

    def walk(cls, prefix: str):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("section"):
                yield from walk(hints[f.name], f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}", f, hints[f.name]

    return {key: (key, f, hint) for key, f, hint in walk(root, "")}


def check_value(key: str, value: Any, f: dataclasses.Field) -> None:
    """`value` inside the field's bounds and choices; one error naming `key` when it is not."""
    bounds, choices = f.metadata.get("bounds") or {}, f.metadata.get("choices")
    if value is None:
        return
    if bounds:
        within(key, value, bounds)
    if choices and str(value) not in choices:
        raise DoremiError(f"{key}={value}: expected one of {', '.join(choices)}")


def within(key: str, value: Any, bounds: dict) -> None:
    """A finite `value` inside `bounds` (ge, gt, le, lt); one error naming `key` when it is not."""
    x = float(value)
    inside = (
        math.isfinite(x)
        and x >= bounds.get("ge", -math.inf)
        and x > bounds.get("gt", -math.inf)
        and x <= bounds.get("le", math.inf)
        and x < bounds.get("lt", math.inf)
    )
    if not inside:
        raise DoremiError(f"{key}={value}: expected a number in {_span(bounds)}")


def sections(cls=None, prefix: str = ""):
    """(prefix, section class) for the root and every nested section."""
    cls = cls or schema.root()
    yield prefix, cls
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("section"):
            yield from sections(hints[f.name], f"{prefix}{f.name}.")


def check(cfg: DictConfig) -> None:
    """Every field's bounds and choices, then each section's cross-key rules. An interpolation that cannot
    be resolved, or a value of the wrong type (a config built without the schema), is one error naming it."""
    present = []
    for key, f, _ in fields():
        parent, _, last = key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        if isinstance(node, DictConfig) and last in node:
            present.append((OmegaConf.is_interpolation(node, last), key, f, node, last))
    # values given directly first: trainer.max_steps=0 is blamed on trainer.max_steps, not on ${trainer.max_steps}
    for _, key, f, node, last in sorted(present, key=lambda p: p[0]):
        if OmegaConf.is_missing(node, last):
            raise DoremiError(f"{key} is not set and this preset needs it: add {key}=... to the command line")
        try:
            value = node[last]
        except OmegaConfBaseException as err:
            raise DoremiError(f"{key}: {first_line(err)}") from None
        try:
            check_value(key, value, f)
        except (TypeError, ValueError):
            raise DoremiError(f"{key}={value}: expected a number in {_span(f.metadata['bounds'])}") from None
    for prefix, cls in sections():
        rule = getattr(cls, "validate", None)
        present = not prefix or OmegaConf.select(cfg, prefix.rstrip("."), default=None) is not None
        if rule is not None and present:
            rule(cfg)


def number(cfg: DictConfig, key: str, low: float, high: float, low_open: bool = False, high_open: bool = True) -> float:
    """The setting `key` as a finite number in its range (open or closed ends), else one error naming it."""
    value = OmegaConf.select(cfg, key)
    bounds = {"gt" if low_open else "ge": low, "lt" if high_open else "le": high}
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
        raise DoremiError(f"{key}={value}: expected a number in {_span(bounds)}")
    within(key, value, bounds)
    return float(value)


def lightning_choices(cfg: DictConfig) -> None:
    """trainer.accelerator, trainer.strategy and trainer.precision against Lightning's own registries, so that
    a wrong one is one line naming the key and the valid values (Lightning's refusal names neither)."""
    from lightning_fabric.connector import _PRECISION_INPUT_STR
    from pytorch_lightning.accelerators import AcceleratorRegistry
    from pytorch_lightning.strategies import StrategyRegistry

    choices = {
        "trainer.accelerator": ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())],
        "trainer.strategy": ["auto", *StrategyRegistry.available_strategies()],
        "trainer.precision": [*typing.get_args(_PRECISION_INPUT_STR), "32", "16", "bf16", "64"],
    }
    for key, valid in choices.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and str(value) not in valid:
            raise DoremiError(f"{key}={value}: expected one of {', '.join(valid)}")
