"""Settings checked at the door, as typed sections.

Each section of the config that code below the stages reads (`dro`, `trainer` with
`checkpoint` and `resume`, `optim`, `model`, `data`, `sft`) is a frozen dataclass here.
`of(cfg, Section)` builds one from the config and checks every field: its type, its
range or its choices. A bad value is one error naming the key, before any stage reads a
file or trains a step (`check(cfg)` builds them all). Components take these dataclasses,
never the root config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from doremi.errors import DoremiError

INF = math.inf


def num(low=-INF, high=INF, low_open=False, high_open=True, integer=False, optional=False, key=None):
    """A numeric field: finite, in its range (open or closed ends); `integer`: a whole number.
    `key`: where the value lives in the config when it is not `<section>.<field>`."""
    meta = {"num": (low, high, low_open, high_open), "integer": integer, "optional": optional}
    return field(metadata={**meta, "key": key})


def choice(*options):
    return field(metadata={"choices": options})


def text(optional=False):
    return field(metadata={"text": True, "optional": optional})


def flag():
    return field(metadata={"flag": True})


def anything(key=None):
    return field(metadata={"any": True, "key": key})


def mapping():
    """A {name: value} setting, null or a map (`key={a: 1, b: 2}` on the command line)."""
    return field(metadata={"mapping": True})


def _span(low, high, low_open, high_open) -> str:
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def value_of(key: str, value: Any, meta: dict) -> Any:
    """`value` checked against a field's metadata; one error naming `key` when it does not fit."""
    if value is None and (meta.get("optional") or meta.get("mapping") or meta.get("any")):
        return None
    if "num" in meta:
        low, high, low_open, high_open = meta["num"]
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        try:
            x = float(value)
        except (TypeError, ValueError):
            x = math.nan
        inside = (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
        if isinstance(value, (bool, str)) or not math.isfinite(x) or not inside or (meta["integer"] and not whole):
            kind = "a whole number" if meta["integer"] else "a number"
            raise DoremiError(f"{key}={value}: expected {kind} in {_span(low, high, low_open, high_open)}")
        return int(x) if meta["integer"] else x
    if "choices" in meta:
        if str(value) not in meta["choices"]:
            raise DoremiError(f"{key}={value}: expected one of {', '.join(meta['choices'])}")
        return str(value)
    if meta.get("text"):
        if not isinstance(value, str):
            raise DoremiError(f"{key}={value}: expected a text value")
        return value
    if meta.get("flag"):
        if not isinstance(value, bool):
            raise DoremiError(f"{key}={value}: expected true or false")
        return value
    if meta.get("mapping"):
        if not isinstance(value, dict):
            raise DoremiError(f"{key}={value}: expected a map like {key}={{name: value}} or null")
        return value
    return value


def of(cfg: DictConfig, cls, prefix: str | None = None):
    """The typed section `cls` of `cfg` (at `prefix`, default its SECTION), every field checked."""
    prefix = prefix or cls.SECTION
    values = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key") or f"{prefix}.{f.name}"
        raw = OmegaConf.select(cfg, key, default=None)
        if isinstance(raw, (DictConfig, ListConfig)):
            raw = OmegaConf.to_container(raw, resolve=True)
        values[f.name] = value_of(key, raw, dict(f.metadata))
    return cls(**values)


@dataclass(frozen=True)
class DroSettings:
    """Group DRO (DESIGN.md): the update's step size and smoothing, its variants, collapse warnings."""

    SECTION = "dro"
    eta: float = num(0, INF, low_open=True)
    smoothing: float = num(0, 1)
    init: str = text()
    normalize: str = choice("domain", "tokens")
    clip: str = choice("token", "domain")
    sampling: str = choice("reweight", "resample")
    burn_in: float = num(0, 1)
    warm_start: int = num(0, integer=True)
    collapse_weight: float = num(0, 1, low_open=True, high_open=False)
    collapse_entropy: float = num(0, 1, high_open=False)
    collapse_steps: int = num(1, integer=True)


@dataclass(frozen=True)
class TrainerSettings:
    """How every training stage runs: Lightning's trainer, checkpoints, resume, the logger."""

    SECTION = "trainer"
    accelerator: str = text()
    devices: Any = anything()
    num_nodes: int = num(1, integer=True)
    strategy: Any = anything()
    precision: Any = anything()
    compile: bool = flag()
    hf_checkpoints: bool = flag()
    grad_clip: float = num(0, optional=True)
    accumulate_grad_batches: int = num(1, integer=True)
    progress_lines: int = num(0, integer=True)
    log_every: int = num(1, integer=True)
    logger: str = choice("csv", "tensorboard", "wandb", "mlflow")
    checkpoint_every: int = num(0, integer=True, key="checkpoint.every")
    checkpoint_keep: int = num(1, integer=True, key="checkpoint.keep")
    resume: Any = anything(key="resume")


@dataclass(frozen=True)
class OptimSettings:
    """AdamW with linear warmup and cosine decay."""

    SECTION = "optim"
    lr: float = num(0, INF, low_open=True)
    betas: Any = anything()
    weight_decay: float = num(0)
    warmup_steps: int = num(0, integer=True)
    min_lr_ratio: float = num(0, 1, high_open=False)
    fused: Any = anything()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelSettings:
    """The model: the built-in GPT's shape, or a transformers architecture (model.arch=hf). The vocabulary
    comes from the prepared data."""

    SECTION = "model"
    seq_len: int = num(1, integer=True)
    arch: str | None = text(optional=True)
    n_layer: int | None = num(1, integer=True, optional=True)
    n_head: int | None = num(1, integer=True, optional=True)
    d_model: int | None = num(1, integer=True, optional=True)
    dropout: float | None = num(0, 1, optional=True)
    hf_config: Any = anything()
    init_from: str | None = text(optional=True)
    attn_implementation: str | None = text(optional=True)

    def __post_init__(self):
        if (self.arch or "gpt") not in ("gpt", "hf"):
            raise DoremiError(
                f"model.arch={self.arch}: expected gpt (model=tiny|small) or hf (model=hf|hf-120m|hf-280m)"
            )
        if self.arch == "hf":
            if not self.hf_config and not self.init_from:
                raise DoremiError(
                    "model=hf needs model.hf_config (a dict, a config.json or a hub name) or model.init_from"
                )
            return
        for key in ("n_layer", "n_head", "d_model"):
            if getattr(self, key) is None:
                raise DoremiError(f"model.{key} is not set: the built-in GPT needs n_layer, n_head and d_model")
        if self.d_model % self.n_head:
            raise DoremiError(
                f"model.n_head={self.n_head} does not divide model.d_model={self.d_model}: choose a divisor"
            )


@dataclass(frozen=True)
class DataSettings:
    """Where documents come from and how they are split and capped."""

    SECTION = "data"
    domains: Any = mapping()
    paths: Any = anything()
    dataset: str | None = text(optional=True)
    dataset_config: Any = anything()
    split: str = text()
    text_field: str = text()
    domain_field: str = text()
    val_fraction: float = num(0, 1, low_open=True)
    demo_max_chars: int = num(1, integer=True)
    domain_map: Any = mapping()
    max_documents: int | None = num(1, integer=True, optional=True)
    max_tokens: int | None = num(1, integer=True, optional=True)
    invalid_utf8: str = choice("error", "replace")


@dataclass(frozen=True)
class SftSettings:
    """The SFT set (stage=sft_mix) and its fine-tuning (stage=sft)."""

    SECTION = "sft"
    pools: Any = mapping()
    paths: Any = anything()
    dataset: str | None = text(optional=True)
    split: str = text()
    source_field: str = text()
    category_field: str | None = text(optional=True)
    score_field: str | None = text(optional=True)
    mixture: str | None = text(optional=True)
    domain_to_source: Any = mapping()
    counts: Any = mapping()
    budget: int = num(1, integer=True)
    dev_size: int = num(0, integer=True)
    temperature: float = num(0, INF, low_open=True)
    upsample: bool = flag()
    seed: int = num(integer=True)
    filters: Any = anything()
    dedup: Any = anything()
    learn: Any = anything()
    epochs: int = num(1, integer=True)
    batch_size: int = num(1, integer=True)
    lr: float = num(0, INF, low_open=True)
    min_lr_ratio: float = num(0, 1, high_open=False)
    betas: Any = anything()
    weight_decay: float = num(0)
    dropout_top: float = num(0, 1)
    samples: int = num(0, integer=True)
    max_new_tokens: int = num(1, integer=True)


SECTIONS = (DroSettings, TrainerSettings, OptimSettings, ModelSettings, DataSettings, SftSettings)

# Settings outside the typed sections: key: (low, high, low_open, high_open)
RANGES = {
    "trainer.max_steps": (1, INF, False, True),
    "trainer.batch_size": (1, INF, False, True),
    "reference.max_steps": (1, INF, False, True),
    "reference.batch_size": (1, INF, False, True),
    "proxy.max_steps": (1, INF, False, True),
    "proxy.batch_size": (1, INF, False, True),
    "final.max_steps": (1, INF, False, True),
    "final.batch_size": (1, INF, False, True),
    "final.eval_every": (1, INF, False, True),
    "rounds": (1, INF, False, True),
    "warn.reference_gain": (0, 1, False, False),
    "warn.transient_share": (0, 1, False, False),
    "warn.seeds_l1": (0, 2, False, False),
    "eval.batch_size": (1, INF, False, True),
    "learn.temperature": (0, INF, True, True),
    "seed": (0, 2**32, False, True),
    "final.eval_chunks": (1, INF, False, True),
    "prepare.num_shards": (1, INF, False, True),
    "rounds_tolerance": (0, INF, False, True),
    "export.examples_budget": (1, INF, False, True),
    "sft.dedup.threshold": (0, 1, True, False),
    "sft.dedup.num_perm": (1, INF, False, True),
    "sft.filters.min_chars": (0, INF, False, True),
    "sft.filters.max_chars": (0, INF, False, True),
    "checkpoint.every": (0, INF, False, True),
    "tokenizer.vocab_size": (257, INF, False, True),  # at least the byte alphabet and the end-of-document id
}

# Settings in RANGES that count something: whole numbers only (2.5 is refused, never truncated).
WHOLE = {
    key
    for key in RANGES
    if key.endswith(("max_steps", "batch_size", "eval_every", "_chars", "num_perm", "num_shards", "eval_chunks"))
    or key in ("rounds", "seed", "export.examples_budget", "checkpoint.every", "tokenizer.vocab_size")
}

# Settings outside the typed sections that are true or false (`overwrite=no` is refused, not taken as true).
FLAGS = ("overwrite", "learn.feasible", "proxy.reference_cache")


def number(cfg: DictConfig, key: str, low: float, high: float, low_open: bool = False, high_open: bool = True) -> float:
    """The setting `key` as a finite number in its range (open or closed ends), else one error naming it."""
    meta = {"num": (low, high, low_open, high_open), "integer": False, "optional": False}
    return value_of(key, OmegaConf.select(cfg, key), meta)


def seeds_of(cfg: DictConfig, key: str) -> list[int]:
    """`key` (final.seeds, proxy.seeds): a count (seeds `seed`, `seed`+1, ...) or a list of distinct seeds."""
    value = OmegaConf.select(cfg, key)
    if isinstance(value, ListConfig):
        seeds = [int(s) for s in value] if all(isinstance(s, int) and not isinstance(s, bool) for s in value) else []
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        seeds = [int(cfg.seed) + i for i in range(value)]
    else:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise DoremiError(f"{key}={value}: give a number of seeds (1 or more) or a list of distinct seeds like [0,1,2]")
    return seeds


def lightning_choices(cfg: DictConfig) -> None:
    """trainer.accelerator, trainer.strategy and trainer.precision against Lightning's own registries, so that
    a wrong one is one line naming the key and the valid values (Lightning's refusal names neither)."""
    import typing

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


def check(cfg: DictConfig) -> None:
    """Every typed section, every range in RANGES, and the combinations that a range alone cannot say."""
    for key, (low, high, low_open, high_open) in RANGES.items():
        if OmegaConf.select(cfg, key, default=None) is not None:
            meta = {"num": (low, high, low_open, high_open), "integer": key in WHOLE, "optional": False}
            value_of(key, OmegaConf.select(cfg, key), meta)
    for key in ("final.seeds", "proxy.seeds"):
        if OmegaConf.select(cfg, key, default=None) is not None:
            seeds_of(cfg, key)
    for key in FLAGS:
        if OmegaConf.select(cfg, key, default=None) is not None:
            value_of(key, OmegaConf.select(cfg, key), {"flag": True})
    for key in ("final.baselines",):
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not isinstance(value, ListConfig):
            raise DoremiError(f"{key}={value}: expected a list, like {key}=[{value}]")
    betas = OmegaConf.select(cfg, "optim.betas", default=None)
    if betas is not None and not (
        isinstance(betas, ListConfig)
        and len(betas) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
    ):
        raise DoremiError(f"optim.betas={betas}: expected two numbers in [0, 1), like optim.betas=[0.9,0.95]")
    fused = OmegaConf.select(cfg, "optim.fused", default="auto")
    if fused not in ("auto", True, False):
        raise DoremiError(f"optim.fused={fused}: expected auto, true or false")
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if not (
        devices == "auto"
        or (whole(devices) and devices >= 1)
        or (isinstance(devices, ListConfig) and all(whole(d) for d in devices))
    ):
        raise DoremiError(f"trainer.devices={devices}: expected a number of devices (1 or more), a list of ids or auto")
    for section in SECTIONS:  # after the root keys: sft.seed=${seed} would otherwise take the blame for seed=
        if OmegaConf.select(cfg, section.SECTION, default=None) is not None:
            of(cfg, section)
    resume = OmegaConf.select(cfg, "resume", default=None)
    if resume is not None and (not isinstance(resume, str) or (resume != "auto" and not resume.endswith(".ckpt"))):
        raise DoremiError(
            f"resume={resume}: expected auto (the newest checkpoint of the stage) or a .ckpt file, or null"
        )
    if OmegaConf.select(cfg, "dro.warm_start", default=0) and int(cfg.dro.warm_start) >= int(cfg.proxy.max_steps):
        raise DoremiError(
            f"dro.warm_start={cfg.dro.warm_start} leaves no Group DRO step of proxy.max_steps={cfg.proxy.max_steps}: "
            "make it smaller than proxy.max_steps"
        )
