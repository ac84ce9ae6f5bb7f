"""Mixture methods behind one seam: a registry of small modules with one signature.

A method is a `Method`: what it reads (artifact names of doremi.pipeline.graph), the settings
that fingerprint it and the settings sections it brings, `learn(context) -> mixture dict` (the
doremi-mixture/v1 format with `provenance.method` and `provenance.cost`), its section of the report
and, for an online method, its training-time part. Everything that is one method's lives in its
folder here (or its module, when it is a few lines); adding a method means adding that folder and one
entry in `_builtins()`. A method of another package plugs in through the `doremi.methods` entry-point group or
`register(method)` (doremi.config.registry). Nothing outside this folder names a method: generic code asks the
registry.

What every method may import: doremi.config, doremi.data, doremi.store, doremi.training,
doremi.outputs (plan, plots), doremi.stats. Never a stage: what a method needs of the stages reaches it
through its `LearnContext`.

Variants are methods with settings changed (`doremi+burn_in`): they learn in their own
working folder (`<run_dir>/variants/<name>/`) on this run's prepared data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doremi.config.errors import DoremiError
from doremi.config.registry import Registry
from doremi.methods.base import LearnContext, Method, OnlineSetup, ReportContext  # noqa: F401  (plug-ins import them from here)


def _builtins() -> list[Method]:
    from doremi.methods import aioli, baselines, doge, doremi, mixing_law, odm, regmix

    return [
        doremi.METHOD,
        *baselines.METHODS,
        regmix.METHOD,
        mixing_law.METHOD,
        odm.METHOD,
        aioli.METHOD,
        doge.METHOD,
        *doremi.VARIANTS,
    ]


REGISTRY = Registry("mixture method", "doremi.methods", _builtins)
register, unregister, sections = REGISTRY.register, REGISTRY.unregister, REGISTRY.sections


def _registry() -> dict[str, Method]:
    return REGISTRY.all()


def find(name: str) -> Method | None:
    """The method named `name`, or None (a mixture file may name a method of another tool)."""
    return _registry().get(str(name))


def words(mixture: dict) -> tuple[str | None, str | None]:
    """The method's own words for the report: how its mixture was learned, and what its cost was spent on."""
    prov = mixture.get("provenance", {})
    method = find(prov.get("method", ""))
    if method is None:
        return None, None
    how = method.describe(prov) if method.describe else None
    cost = method.cost_words(prov["cost"]) if method.cost_words and prov.get("cost") else None
    return how, cost


def known() -> list[str]:
    return list(_registry())


def resolve(name: str) -> Method:
    """The method named `name`; an unknown name is one line listing the known ones."""
    registry = _registry()
    if name not in registry:
        from doremi.data.mixture import closest

        raise DoremiError(
            f"method={name} is not a mixture method{closest(name, list(registry))}; known methods: "
            f"{', '.join(registry)} (stage=compare also takes a mixture .json file)"
        )
    return registry[name]


@dataclass(frozen=True)
class Entry:
    """One row of compare.methods: a registered method, or a mixture file to judge as it is."""

    name: str
    method: Method | None = None
    file: str | None = None


def entries(values) -> list[Entry]:
    out, seen = [], set()
    for value in values:
        value = str(value)
        if value.endswith(".json"):
            entry = Entry(Path(value).name.removesuffix(".json"), file=value)
            if entry.name in _registry():
                raise DoremiError(
                    f"compare.methods: {value} would be judged under the name {entry.name!r}, which is the method "
                    f"{entry.name} (a baseline's name would replace the baseline itself); rename the file"
                )
        else:
            entry = Entry(value, method=resolve(value))
        if entry.name in seen:
            raise DoremiError(f"compare.methods lists {entry.name} twice; list each method once")
        seen.add(entry.name)
        out.append(entry)
    return out
