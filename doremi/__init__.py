"""doremi: learn data-mixture weights with DoReMi and hand them to other trainers."""

__version__ = "0.1.0"

from doremi.data.loaders import MixtureDataModule, MixtureLoader, MixtureSequences, mixture_batches  # noqa: E402
from doremi.data.packing import PackedData  # noqa: E402
from doremi.data.sampler import MixtureBatches, MixtureSampler  # noqa: E402
from doremi.errors import DoremiError  # noqa: E402
from doremi.mixture import load_mixture, validate_weights  # noqa: E402

__all__ = [
    "DoremiError",
    "MixtureBatches",
    "MixtureDataModule",
    "MixtureLoader",
    "MixtureSequences",
    "MixtureSampler",
    "PackedData",
    "__version__",
    "load_mixture",
    "mixture_batches",
    "validate_weights",
]
