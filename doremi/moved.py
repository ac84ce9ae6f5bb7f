"""Import paths of 0.5.0 that moved in 0.6.0, when the top level was grouped by concern: an old path still
imports (the module at its new path, the very same object) with a DeprecationWarning naming the new one.
To be removed in 0.8.0.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "doremi.aioli": "doremi.methods.aioli.rules",
    "doremi.alloc": "doremi.data.alloc",
    "doremi.checkpoints": "doremi.store.checkpoints",
    "doremi.decide": "doremi.stats.decide",
    "doremi.diagnostics": "doremi.methods.doremi.diagnostics",
    "doremi.dro": "doremi.methods.doremi.dro",
    "doremi.export": "doremi.outputs.export",
    "doremi.family": "doremi.stats.family",
    "doremi.files": "doremi.store.files",
    "doremi.fits": "doremi.methods.swarm.fits",
    "doremi.heuristics": "doremi.methods.baselines.rules",
    "doremi.lit": "doremi.training",
    "doremi.lit.aioli": "doremi.methods.aioli.callback",
    "doremi.lit.averaging": "doremi.training.averaging",
    "doremi.lit.cache": "doremi.methods.doremi.cache",
    "doremi.lit.callbacks": "doremi.training.callbacks",
    "doremi.lit.group_dro": "doremi.methods.doremi.group_dro",
    "doremi.lit.lm": "doremi.training.lm",
    "doremi.lit.online": "doremi.methods.odm.callback",
    "doremi.lit.parts": "doremi.methods.doremi.parts",
    "doremi.lit.proxy": "doremi.methods.doremi.proxy",
    "doremi.lit.sft": "doremi.training.sft",
    "doremi.lit.shard": "doremi.training.shard",
    "doremi.lit.train": "doremi.training.train",
    "doremi.lock": "doremi.store.lock",
    "doremi.mixture": "doremi.data.mixture",
    "doremi.model": "doremi.training.model",
    "doremi.online": "doremi.methods.odm.bandit",
    "doremi.plan": "doremi.outputs.plan",
    "doremi.report": "doremi.outputs.report",
    "doremi.runtime": "doremi.store.runtime",
    "doremi.schema": "doremi.config.schema",
    "doremi.schema_fields": "doremi.config.fields",
    "doremi.schema_methods": "doremi.config.methods",
    "doremi.schema_sft": "doremi.config.sft",
    "doremi.settings": "doremi.config.settings",
    "doremi.simulate": "doremi.stats.simulate",
    "doremi.stages.methods": "doremi.methods",
    "doremi.stages.methods.aioli": "doremi.methods.aioli",
    "doremi.stages.methods.base": "doremi.methods.base",
    "doremi.stages.methods.common": "doremi.methods.common",
    "doremi.stages.methods.doremi": "doremi.methods.doremi",
    "doremi.stages.methods.fitted": "doremi.methods.swarm.fitted",
    "doremi.stages.methods.heuristics": "doremi.methods.baselines",
    "doremi.stages.methods.mixing_law": "doremi.methods.mixing_law",
    "doremi.stages.methods.odm": "doremi.methods.odm",
    "doremi.stages.methods.regmix": "doremi.methods.regmix",
    "doremi.swarm": "doremi.methods.swarm.runs",
    "doremi.trial_store": "doremi.store.trials",
    "doremi.units": "doremi.data.units",
    "doremi.verdict": "doremi.stats.verdict",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Asked first: none of the old paths exists any more, and a module below an old package
    (`doremi.model.gpt`) must be the new one itself, never a second copy of it."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self, is_package=True) if new_name(name) else None

    def create_module(self, spec):
        new = new_name(spec.name)
        warnings.warn(
            f"{spec.name} moved to {new} (doremi 0.6.0); import it from there", DeprecationWarning, stacklevel=3
        )
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


def new_name(name: str) -> str | None:
    """The path `name` moved to (a module below a moved package moved with it), or None."""
    parts = name.split(".")
    for cut in range(len(parts), 1, -1):
        old = ".".join(parts[:cut])
        if old in MOVED:
            return ".".join([MOVED[old], *parts[cut:]])
    return None


def install() -> None:
    if not any(isinstance(f, _Moved) for f in sys.meta_path):
        sys.meta_path.insert(0, _Moved())
