"""Mixture methods behind one seam: a registry of small modules with one signature.

A method is a `Method`: what it reads (artifact names of doremi.stages.graph), the settings
that fingerprint it, `learn(context) -> mixture dict` (the doremi-mixture/v1 format with
`provenance.method` and `provenance.cost`), and its section of the report. Adding a method
means adding one module here and one entry in `_registry()`.

Variants are methods with settings changed (`doremi+burn_in`): they learn in their own
working folder (`<run_dir>/variants/<name>/`) on this run's prepared data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doremi.errors import DoremiError
from doremi.stages.methods.base import LearnContext, Method, OnlineSetup, ReportContext  # noqa: F401  (methods import them from here too)


def _registry() -> dict[str, Method]:
    from doremi.stages.methods import aioli, doremi, heuristics, mixing_law, odm, regmix

    methods = [doremi.METHOD, *heuristics.METHODS, regmix.METHOD, mixing_law.METHOD, odm.METHOD, aioli.METHOD]
    methods += doremi.VARIANTS
    return {m.name: m for m in methods}


def known() -> list[str]:
    return list(_registry())


def resolve(name: str) -> Method:
    """The method named `name`; an unknown name is one line listing the known ones."""
    registry = _registry()
    if name not in registry:
        from doremi.mixture import closest

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
