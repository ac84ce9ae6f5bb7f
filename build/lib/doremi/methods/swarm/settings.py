"""The `swarm` settings section: the small runs on sampled mixtures that the fitted methods learn from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.config.fields import Number, s
from doremi.config.methods import model_preset


@dataclass
class Swarm:
    """method=regmix | mixing_law: small runs on sampled mixtures (stage=swarm launches them)."""

    runs: int = s(24, "mixtures drawn (RegMix: 512); growing it trains only the new runs", ge=1)
    steps: int = s(60, "optimizer steps per run", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)
    model: Dict[str, Any] = s({"n_layer": 1, "n_head": 2, "d_model": 64}, "keys of model= changed for the swarm (a smaller model)", open_map=True)  # fmt: skip
    prior: str = s("natural", "the Dirichlet's centre: natural | uniform | a mixture .json")
    concentrations: List[float] = s([0.3, 1.0, 3.0, 10.0], "spreads taken in turn (small: near one-hot, large: near the prior)")  # fmt: skip
    seed: int = s("${seed}", "the draws' seed", ge=0, lt=2**32)
    threads: int = s(1, "torch threads per run: the same in every launch, so the numbers match", ge=1)
    train: bool = s(True, "stage=learn trains the runs still missing (false: fit on what is there)")
    index: Any = s(None, "stage=swarm: the runs to train (null: all), e.g. swarm.index=0,1,2 with -m")
    folds: int = s(5, "k-fold over runs for the fit's held-out rank correlation and error", ge=2)
    min_spearman: Number = s(0.5, "warn when the fit ranks held-out runs worse than this; such a fit is never the recommendation", ge=-1, le=1)  # fmt: skip
    kl_reg: Number = s(0.1, "the search minimizes the predicted target + kl_reg x KL(mixture || prior): the optimum stays near the prior where the fit knows little (Olmix's DCLM value: 0.1; 0: none)", ge=0)  # fmt: skip
    check_scale: Optional[str] = s(None, "a model preset (e.g. tiny): train the optimum, stratified and check_runs swarm mixtures")  # fmt: skip
    check_runs: int = s(3, "  again at that size and report the rank correlation between the sizes (RegMix's check)", ge=0)  # fmt: skip
    check_steps: int = s("${final.max_steps}", "optimizer steps of the scale check's runs", ge=1)

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        model_preset(cfg, "swarm.check_scale")
        if any(c <= 0 for c in cfg.swarm.concentrations) or not len(cfg.swarm.concentrations):
            raise DoremiError(f"swarm.concentrations={list(cfg.swarm.concentrations)}: expected positive numbers")


SECTION = ("swarm", Swarm, "the fitted methods' small runs (stage=swarm)")
