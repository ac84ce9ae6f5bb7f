"""The DoReMi math (Xie et al., 2023, Algorithm 1) as pure tensor functions.

No Lightning here: the proxy LightningModule calls these functions and keeps their
state (weights, running sum, last excess) in buffers.

One step t of the algorithm, for k domains and uniform u = 1/k:

    lambda_t[i] = sum over domain-i tokens of max(loss_proxy - loss_ref, 0)
                  / number of domain-i tokens          (a domain with no tokens keeps lambda_{t-1}[i])
    alpha_t     = (1 - c) * softmax(log alpha_{t-1} + eta * lambda_t) + c * u

and the learned mixture is the mean of alpha_1..alpha_T.
"""

from __future__ import annotations

import torch


def excess_loss_sums(
    proxy_loss: torch.Tensor,
    reference_loss: torch.Tensor,
    domain_ids: torch.Tensor,
    num_domains: int,
    mask: torch.Tensor | None = None,
    clip: str = "token",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-domain sums of per-token clipped excess loss, and per-domain token counts.

    proxy_loss, reference_loss: (batch, seq) per-token losses in nats.
    domain_ids: (batch,) domain index of each sequence.
    mask: (batch, seq), true where a token counts (padding and prompt tokens excluded).

    clip: "token" (the paper: clip each token's excess at 0) or "domain" (sum the raw
    differences; `domain_excess` clips the domain's mean instead).

    Sums and counts are returned separately (float64) so that several processes or
    micro-batches can add them up before dividing.
    """
    excess = proxy_loss.detach().double() - reference_loss.detach().double()
    if clip == "token":
        excess = excess.clamp_min(0.0)
    if mask is None:
        mask = torch.ones_like(excess, dtype=torch.bool)
    mask = mask.bool()
    excess = torch.where(mask, excess, torch.zeros_like(excess))
    per_sequence_sum = excess.sum(dim=1)
    per_sequence_count = mask.sum(dim=1).double()
    sums = torch.zeros(num_domains, dtype=torch.float64, device=excess.device)
    counts = torch.zeros(num_domains, dtype=torch.float64, device=excess.device)
    sums.index_add_(0, domain_ids, per_sequence_sum)
    counts.index_add_(0, domain_ids, per_sequence_count)
    return sums, counts


def domain_excess(
    sums: torch.Tensor,
    counts: torch.Tensor,
    previous_excess: torch.Tensor,
    normalize: str = "domain",
    clip: str = "token",
) -> torch.Tensor:
    """lambda_t: mean clipped excess per domain; a domain with no tokens keeps its previous value.

    normalize: "domain" (the paper: divide by the domain's own token count) or "tokens"
    (the original code: divide by all tokens of the batch, so domains with more tokens
    in the batch weigh more). clip="domain" clips after averaging (see excess_loss_sums).
    """
    present = counts > 0
    denominator = counts if normalize == "domain" else counts.sum().expand_as(counts)
    mean = sums / denominator.clamp_min(1.0)
    if clip == "domain":
        mean = mean.clamp_min(0.0)
    return torch.where(present, mean, previous_excess.to(mean.dtype))


def update_weights(weights: torch.Tensor, excess: torch.Tensor, eta: float, smoothing: float) -> torch.Tensor:
    """alpha_t = (1 - c) * softmax(log alpha_{t-1} + eta * lambda_t) + c / k, in float64."""
    weights = weights.double()
    k = weights.numel()
    logits = torch.log(weights) + eta * excess.double()
    return (1.0 - smoothing) * torch.softmax(logits, dim=0) + smoothing / k


def weighted_objective(
    loss: torch.Tensor,
    domain_ids: torch.Tensor,
    weights: torch.Tensor,
    token_counts: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The proxy's objective: sum_i alpha_t[i] * (mean per-token loss of domain i in the batch).

    token_counts: per-domain token counts of the whole global batch, when this process sees
    only part of it; the result is then this process's share of the global objective (summing
    it over processes gives the objective of the global batch). Defaults to the local counts.
    """
    k = weights.numel()
    if mask is None:
        mask = torch.ones_like(loss, dtype=torch.bool)
    masked = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    sums = torch.zeros(k, dtype=loss.dtype, device=loss.device).index_add(0, domain_ids, masked.sum(dim=1))
    if token_counts is None:
        token_counts = torch.zeros(k, dtype=loss.dtype, device=loss.device)
        token_counts = token_counts.index_add(0, domain_ids, mask.sum(dim=1).to(loss.dtype))
    return (weights.to(loss.dtype) * sums / token_counts.to(loss.dtype).clamp_min(1.0)).sum()


def resampled_objective(
    loss: torch.Tensor, total_tokens: torch.Tensor | float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The proxy's objective when the batch was drawn with alpha (dro.sampling=resample).

    Domain i already fills a share alpha_i of the batch, so the plain mean per-token loss
    estimates sum_i alpha_i * L_i. `total_tokens` is the global batch's (masked-in) token
    count: summed over processes and micro-batches the result is the mean over the global batch.
    """
    if mask is not None:
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    total = torch.as_tensor(total_tokens, dtype=loss.dtype, device=loss.device)
    return loss.sum() / total.clamp_min(1.0)


def initial_weights(k: int, init: torch.Tensor | None = None) -> torch.Tensor:
    """alpha_0: uniform unless given; must be a strictly positive point of the simplex."""
    if init is None:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    init = init.double()
    if init.numel() != k or not torch.isfinite(init).all() or (init <= 0).any():
        raise ValueError("initial weights must be k finite values > 0")
    return init / init.sum()
