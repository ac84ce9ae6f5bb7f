"""DoGE's weight update (Fan et al., 2024, "DoGE: Domain Reweighting with Generalization Estimation", arXiv
2310.15393), pure torch, tested against a hand computation (tests/methods/test_doge.py).

Each step: every training domain i's gradient g_i of its batch loss (clipped to max_grad_norm) and the target's g_T
(the out-of-domain case: documents that are no training domain; without one, the other domains' gradients, the
in-domain case). The score of domain i is lr_t <g_i, g_T> / mean_j |g_j|, clipped to [lr_t dw_min, lr_t dw_max]: how
much a step on domain i would lower the target's loss. The weights move by a mirror-descent step,
log w_i += score_i / mu, then softmax; the model trains on sum_i w_i g_i; the output is the weights averaged over the
steps (as DoReMi averages its). Olivia-fsm/DoGE (src/trainer.py, update_domain_weights) computes the same, except that
its per-domain gradients accumulate over the domains in turn (it zeroes them once per step); here each domain's
gradient is its own.
"""

from __future__ import annotations

import torch


def scores(grads: torch.Tensor, target: torch.Tensor | None, lr: float, dw_min: float, dw_max: float) -> torch.Tensor:
    """(k,) scores from the (k, P) domain gradients and the (P,) target gradient (None: in-domain, each domain
    scored against the sum of the others')."""
    if target is None:
        total = grads.sum(dim=0)
        raw = grads @ total - (grads * grads).sum(dim=1)  # sum over j != i of <g_i, g_j>
    else:
        raw = grads @ target
    raw = lr * raw / (grads.norm(dim=1).mean() + 1e-6)
    return raw.clamp(min=lr * dw_min, max=lr * dw_max)


def step(weights: torch.Tensor, score: torch.Tensor, mu: float) -> torch.Tensor:
    """The mirror-descent step: softmax(log w + score / mu)."""
    return torch.softmax(torch.log(weights) + score / mu, dim=0)
