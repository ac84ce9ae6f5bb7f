"""doremi: learn data-mixture weights with DoReMi and hand them to other trainers.

The public names are imported on first use, so that `import doremi` (and the stages that
train nothing, like `stage=export`) does not pay for torch and Lightning. Importing it also
registers the settings schema with Hydra (with the sections the methods bring) and keeps the
import paths of 0.5.0 working (`MOVED`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from doremi import methods
from doremi.config import schema
from doremi.config.version import VERSION as __version__
from doremi.sft import methods as sft_methods


def _register_schema() -> None:
    """The schema as Hydra knows it: the generic sections and those every registered method brings (both kinds)."""
    schema.register([*methods.sections(), *sft_methods.sections()])


methods.REGISTRY.changed = sft_methods.REGISTRY.changed = (
    _register_schema  # a plug-in registered later brings its sections
)
_register_schema()  # known to Hydra before any config is composed

_WHERE = {
    "DoremiError": "doremi.config.errors",
    "MixtureBatches": "doremi.data.sampler",
    "MixtureDataModule": "doremi.data.loaders",
    "MixtureLoader": "doremi.data.loaders",
    "MixtureSequences": "doremi.data.loaders",
    "MixtureSampler": "doremi.data.sampler",
    "PackedData": "doremi.data.packing",
    "load_mixture": "doremi.data.mixture",
    "mixture_batches": "doremi.data.loaders",
    "validate_weights": "doremi.data.mixture",
}

__all__ = [*sorted(_WHERE), "__version__"]

MOVED = {  # the import paths of 0.5.0 that moved in 0.6.0 (to be removed in 0.8.0)
    "doremi.aioli": "doremi.methods.aioli.rules",
    "doremi.alloc": "doremi.data.alloc",
    "doremi.checkpoints": "doremi.store.checkpoints",
    "doremi.cli": "doremi.stages.cli",
    "doremi.decide": "doremi.stats.decide",
    "doremi.diagnostics": "doremi.methods.doremi.diagnostics",
    "doremi.dro": "doremi.methods.doremi.dro",
    "doremi.errors": "doremi.config.errors",
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
    "doremi.moved": "doremi",
    "doremi.online": "doremi.methods.odm.bandit",
    "doremi.plan": "doremi.outputs.plan",
    "doremi.report": "doremi.outputs.report",
    "doremi.runtime": "doremi.store.runtime",
    "doremi.schema": "doremi.config.schema",
    "doremi.schema_fields": "doremi.config.fields",
    "doremi.schema_methods": "doremi.config.methods",
    "doremi.schema_sft": "doremi.config.sft",
    "doremi.settings": "doremi.config.settings",
    "doremi.simulate": "doremi.compare.simulate",
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
    "doremi.stages.lm": "doremi.training.fitting",
    "doremi.swarm": "doremi.methods.swarm.runs",
    "doremi.trial_store": "doremi.store.trials",
    "doremi.units": "doremi.data.units",
    "doremi.verdict": "doremi.stats.verdict",
    "doremi.version": "doremi.config.version",
    # 0.7.0: the compare engine
    "doremi.stats.simulate": "doremi.compare.simulate",
    "doremi.stages.trials": "doremi.compare.mixtures",
    "doremi.stages.judge": "doremi.compare.judge",
    "doremi.sft.learn": "doremi.methods.doremi.sft_quotas",
    "doremi.stages.graph": "doremi.pipeline.graph",
    "doremi.stages.common": "doremi.pipeline.common",
    "doremi.stages.prepared": "doremi.pipeline.prepared",
    "doremi.stages.sft_sets": "doremi.pipeline.sft_sets",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Asked first: none of the old paths exists any more, and a module below an old package
    (`doremi.model.gpt`) must be the new one itself, never a second copy of it."""

    def __init__(self):
        self.saved: dict[str, tuple] = {}  # old name -> (the real module's own spec, whether it had a __path__)

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self, is_package=True) if new_name(name) else None

    def create_module(self, spec):
        new = new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new)
        self.saved[spec.name] = (module.__spec__, hasattr(module, "__path__"))
        return module

    def exec_module(self, module):
        """importlib has just labelled the real module with the old path's spec (and a package's empty __path__):
        put its own back, so that it stays what it is (importlib.reload included)."""
        own, had_path = self.saved.pop(module.__spec__.name)
        module.__spec__ = own
        if not had_path and hasattr(module, "__path__"):
            del module.__path__


def new_name(name: str) -> str | None:
    """The path `name` moved to (a module below a moved package moved with it), or None."""
    parts = name.split(".")
    for cut in range(len(parts), 1, -1):
        old = ".".join(parts[:cut])
        if old in MOVED:
            return ".".join([MOVED[old], *parts[cut:]])
    return None


def _install() -> None:
    if not any(isinstance(f, _Moved) for f in sys.meta_path):
        sys.meta_path.insert(0, _Moved())


_install()  # an old import path imports the module at its new path, the very same one, with a DeprecationWarning


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'doremi' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
