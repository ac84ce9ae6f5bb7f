"""The `doge` settings section."""

from __future__ import annotations

from dataclasses import dataclass

from doremi.config.fields import Number, s


@dataclass
class Doge:
    """method=doge (doremi.methods.doge.rule). DoGE's reference values (Olivia-fsm/DoGE, config/doge_ood: mu 0.05,
    dw_max 5, dw_min 0, max_grad_norm 1) are kept; the proxy's length and batch follow this tool's short runs."""

    steps: int = s(200, "proxy steps: each one a batch of every domain and of the target, and one weight update", ge=1)
    batch_size: int = s(4, "sequences per domain (and of the target) in each step", ge=1)
    mu: Number = s(0.05, "the Bregman step's temperature: log w += score / mu (reference: 0.05)", gt=0)
    dw_max: Number = s(5.0, "a score's upper clip, in units of the learning rate (reference: 5)", ge=0)
    dw_min: Number = s(0.0, "a score's lower clip, in units of the learning rate (reference: 0)")
    max_grad_norm: Number = s(1.0, "each domain's gradient clipped to this norm before it is compared (reference: 1)", gt=0)  # fmt: skip


SECTION = ("doge", Doge, "method=doge")
