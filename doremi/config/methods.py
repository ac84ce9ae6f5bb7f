"""The settings sections every mixture method shares (learn.*, compare.*) and DoReMi's (Group DRO and its
warnings), for the schema (doremi.config.schema). A method's own section lives in its folder
(doremi.methods.<name>) and joins the schema through the registry (`Method.sections`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.config.fields import Number, s


@dataclass
class Dro:
    """Group DRO (docs/concepts/algorithm.md): the update's step size and smoothing, its variants, collapse warnings."""

    eta: Number = s(1.0, "step size of the exponentiated-gradient update (paper: 1)", gt=0)
    smoothing: Number = s(1.0e-3, "c: mix of uniform weights kept in every update (paper: 1e-3)", ge=0, lt=1)
    init: str = s("uniform", "alpha_0: uniform | natural | a mixture .json file (weights > 0)")
    normalize: str = s("domain", "lambda per domain: domain (paper: / the domain's tokens) | tokens (original code: / all tokens)", choices=("domain", "tokens"))  # fmt: skip
    clip: str = s("token", "token (paper: clip each token's excess at 0) | domain (clip the domain's mean)", choices=("token", "domain"))  # fmt: skip
    sampling: str = s("reweight", "reweight (paper: uniform batches, loss weighted by alpha) | resample (batches drawn with alpha, plain loss)", choices=("reweight", "resample"))  # fmt: skip
    burn_in: Number = s(0.0, "average alpha_t after this fraction of the DRO steps (paper: 0, every step is averaged)", ge=0, lt=1)  # fmt: skip
    warm_start: int = s(0, "optimizer steps the proxy trains on alpha_0 before Group DRO starts (paper: 0)", ge=0)
    collapse_weight: Number = s(0.95, "warn when one weight exceeds this", gt=0, le=1)
    collapse_entropy: Number = s(0.2, "warn when the weights' entropy stays below this fraction of log(k) ...", ge=0, le=1)  # fmt: skip
    collapse_steps: int = s(50, "... for this many steps", ge=1)


@dataclass
class Learn:
    """stage=learn, for every method."""

    target: Any = s(
        "average",
        "what the target-optimizing methods minimize and stage=compare decides on: average | worst | a list of domains | external (target.paths; chosen when they are given)",
    )
    feasible: bool = s(False, "true: project the learned weights through plan.* (max_epochs at the final run's budget, pin, min/max)")  # fmt: skip
    temperature: Number = s(3.3, "method=temperature: natural shares to the power 1/temperature (multilingual pretraining: ~3.3)", gt=0)  # fmt: skip

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        target = cfg.learn.target
        if not isinstance(target, str) and not (
            hasattr(target, "__len__") and len(target) and all(isinstance(d, str) for d in target)
        ):
            raise DoremiError(
                f"learn.target={target}: expected average, worst, external or a list of domains like [wiki,code]"
            )


def model_preset(cfg: DictConfig, key: str) -> None:
    """A scale check's model preset (conf/model/<name>.yaml) exists: refused before any work otherwise."""

    from omegaconf import OmegaConf

    name = OmegaConf.select(cfg, key)
    from doremi.config.files import MODEL_PRESETS as presets

    if name is not None and presets.is_dir() and not (presets / f"{name}.yaml").is_file():
        choices = ", ".join(sorted(p.stem for p in presets.glob("*.yaml")))
        raise DoremiError(f"{key}={name}: not a model preset; choose one of {choices}")


@dataclass
class Design:
    """How a compare spends its runs (compare.*, sft.compare.*): doremi.stats.decide.plan_design."""

    design: str = s("screen", "screen: every contestant on screen_seeds judged on a quarter of the held-out documents (dev set), the best confirm_top and the control retrained on new seeds and decided on the other three quarters, within the single design's runs | single: every contestant on the same seeds, all decided together", choices=("screen", "single"))  # fmt: skip
    screen_seeds: int = s(1, "design=screen: seeds per contestant in the screen (its point estimates pick the confirmed)", ge=1)  # fmt: skip
    confirm_seeds: Optional[int] = s(None, "design=screen: new seeds for each confirmed contestant and the control (null: the most that keeps the runs within the single design's, at least 3)", ge=2)  # fmt: skip
    confirm_top: int = s(2, "design=screen: contestants confirmed (the best of the screen by point estimate)", ge=1)


@dataclass
class Compare(Design):
    """stage=compare: every method learned and trained at the final settings, same seeds."""

    methods: List[str] = s(["doremi", "stratified", "natural", "unimax", "temperature"], "methods (or mixture .json files); stratified and natural always run")  # fmt: skip
    resolution: Optional[Number] = s(None, "nats/token: a pilot measures the noise, then each method in contention gets the seeds that bring its interval against stratified to this half-width (Stein's two stages, one stage of judging; null: compare.design)", gt=0)  # fmt: skip
    pilot_seeds: int = s(5, "compare.resolution: seeds of the pilot (from `seed`; 3 or more: 2 seeds leave 1 degree of freedom, whose t quantile asks for hundreds of seeds)", ge=3)  # fmt: skip
    max_seeds: int = s(16, "compare.resolution: the most seeds a method gets", ge=2)
    trial: Optional[int] = s(None, "train only this trial (a mixture x seed; with -m and Hydra's launchers: 'compare.trial=range(0,N)'), into <run_dir>/trials/; -1 learns every method and lists the trials", ge=-1)  # fmt: skip
    publish: bool = s(True, "publish the recommended mixture as mixtures/<name>.json, where other trainers import it")
    check_scale: Optional[str] = s(None, "a model preset (e.g. small): retrain stratified, natural and the check_top best methods at that size with the same seeds and report whether the decisions hold (DataDecide's decision agreement, rank correlation)")  # fmt: skip
    check_top: int = s(2, "compare.check_scale: the best methods retrained beside stratified and natural", ge=0)
    check_seeds: int = s(
        3, "compare.check_scale: seeds per mixture at the larger size (the compare's first ones)", ge=1
    )

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        model_preset(cfg, "compare.check_scale")
        if cfg.compare.resolution is not None and cfg.learn.target == "worst":
            raise DoremiError(
                "compare.resolution with learn.target=worst: Stein's plan reads one variance per comparison, and the "
                "worst domain's interval is the union of the domains' (no single variance); use learn.target=average "
                "or a list of domains"
            )
        if cfg.compare.resolution is not None and cfg.compare.max_seeds < cfg.compare.pilot_seeds:
            raise DoremiError(
                f"compare.max_seeds={cfg.compare.max_seeds} is below compare.pilot_seeds={cfg.compare.pilot_seeds}: "
                "raise compare.max_seeds"
            )


@dataclass
class Warn:
    """When to say that the learned weights should not be trusted (docs/guides/troubleshooting.md)."""

    reference_gain: Number = s(0.05, "the reference's held-out loss on a domain is within this fraction of its unigram entropy", ge=0, le=1)  # fmt: skip
    transient_share: Number = s(0.3, "the first 10% of averaged steps make more than this share of the weights' distance from uniform", ge=0, le=1)  # fmt: skip
    seeds_l1: Number = s(0.1, "proxy.seeds runs whose weights differ by more than this L1 distance", ge=0, le=2)
