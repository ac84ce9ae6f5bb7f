"""Settings checked at the door: before any stage reads a file or trains a step, every
numeric setting whose range is known is checked, and a bad one is one error naming the key."""

from __future__ import annotations

import math

from omegaconf import DictConfig, ListConfig, OmegaConf

from doremi.errors import DoremiError

INF = math.inf

# key: (low, high, low_open, high_open)
RANGES = {
    "dro.eta": (0, INF, True, True),
    "dro.smoothing": (0, 1, False, True),
    "dro.burn_in": (0, 1, False, True),
    "dro.warm_start": (0, INF, False, True),
    "data.val_fraction": (0, 1, True, True),
    "trainer.max_steps": (1, INF, False, True),
    "trainer.batch_size": (1, INF, False, True),
    "trainer.accumulate_grad_batches": (1, INF, False, True),
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
    "model.seq_len": (1, INF, False, True),
    "model.n_layer": (1, INF, False, True),
    "model.n_head": (1, INF, False, True),
    "model.d_model": (1, INF, False, True),
}


def number(cfg: DictConfig, key: str, low: float, high: float, low_open: bool = False, high_open: bool = True) -> float:
    """The setting `key` as a finite number in its range (open or closed ends), else one error naming it."""
    value = OmegaConf.select(cfg, key)
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    inside = (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
    if isinstance(value, bool) or not math.isfinite(x) or not inside:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise DoremiError(f"{key}={value}: expected a number in {span}")
    return x


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


def check(cfg: DictConfig) -> None:
    """Every range in RANGES, and the combinations that a range alone cannot say."""
    for key in ("final.seeds", "proxy.seeds"):
        if OmegaConf.select(cfg, key, default=None) is not None:
            seeds_of(cfg, key)
    for key, (low, high, low_open, high_open) in RANGES.items():
        if OmegaConf.select(cfg, key, default=None) is not None:
            number(cfg, key, low, high, low_open, high_open)
    if OmegaConf.select(cfg, "dro.warm_start", default=0) and int(cfg.dro.warm_start) >= int(cfg.proxy.max_steps):
        raise DoremiError(
            f"dro.warm_start={cfg.dro.warm_start} leaves no Group DRO step of proxy.max_steps={cfg.proxy.max_steps}: "
            "make it smaller than proxy.max_steps"
        )
    model = cfg.get("model")
    if model is not None and model.get("d_model") and model.get("n_head") and int(model.d_model) % int(model.n_head):
        raise DoremiError(
            f"model.n_head={model.n_head} does not divide model.d_model={model.d_model}: choose a divisor"
        )
