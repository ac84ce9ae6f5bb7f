"""The `aioli` settings section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from doremi.config.fields import Number, s


@dataclass
class Aioli:
    """method=aioli (doremi.methods.aioli.rules). The reference's values (HazyResearch/aioli README: lp_rounds 4, lp_steps 4,
    eta 0.2, one_hot_factor 0.625, update_steps 250 of 5000 steps) are for runs of thousands of steps; with k
    domains a round spends lp_rounds x k x lp_steps steps on LearnParams, so update_steps and lp_rounds are
    scaled to this tool's short runs (a fifth of a 300-step run's rounds with 5 domains)."""

    update_steps: int = s(100, "optimizer steps per round: LearnParams, then the new proportions (reference: 250 of 5000)", ge=1)  # fmt: skip
    lp_rounds: int = s(1, "LearnParams sweeps over the domains per round (reference: 4)", ge=1)
    lp_steps: int = s(4, "steps on each smoothed one-hot mixture in a sweep (reference: 4)", ge=1)
    eta: Number = s(0.2, "step size of the exponentiated-gradient update (reference: 0.2)", gt=0)
    one_hot_factor: Number = s(0.625, "the swept domain's share of a LearnParams batch (reference: 0.625)", gt=0, le=1)  # fmt: skip
    ema: Optional[Number] = s(None, "smooth the matrix over rounds: (1 - ema) new + ema old (reference README: off at first)", ge=0, lt=1)  # fmt: skip
    probe_sequences: int = s(16, "sequences per domain of the probe set, drawn from the training split", ge=1)


SECTION = ("aioli", Aioli, "method=aioli")
