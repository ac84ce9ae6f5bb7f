"""doremi: learn data-mixture weights with DoReMi and hand them to other trainers.

The public names are imported on first use, so that `import doremi` (and the stages that
train nothing, like `stage=export`) does not pay for torch and Lightning.
"""

from __future__ import annotations

import importlib

from doremi import methods, moved
from doremi.config import schema

moved.install()  # the import paths of 0.5.0 still work, with a DeprecationWarning
schema.register(
    methods.sections()
)  # the settings schema with the methods' sections, known to Hydra before any config is composed

from doremi.version import VERSION as __version__  # noqa: E402

_WHERE = {
    "DoremiError": "doremi.errors",
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


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'doremi' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
