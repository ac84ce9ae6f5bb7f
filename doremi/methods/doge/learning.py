"""DoGE's proxy: a small model trained on the domain-weighted gradient while the weights follow doremi.methods.doge.rule;
the averaged weights are the mixture."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from doremi.methods.doge import rule
from doremi.store.runtime import say
from doremi.training.model import build_model, describe, model_config


def rows_of(data, domain: str) -> np.ndarray:
    return np.asarray(data.chunks("train", domain))


def draw(rows: np.ndarray, n: int, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rows[rng.integers(0, len(rows), size=n)].astype(np.int64))


def flat_grad(model: torch.nn.Module, loss: torch.Tensor, max_norm: float) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])
    norm = flat.norm()
    return flat * min(1.0, max_norm / (float(norm) + 1e-12))


def lr_at(step: int, steps: int, peak: float, warmup: int, floor: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(cfg, data, target_rows: np.ndarray | None, chosen: list[int] | None, label: str = "doge") -> dict:
    """Run the proxy; {"weights": averaged, "last": final weights, "trajectory": weights every step, "flops"}.
    `target_rows`: the user's target (out-of-domain); else `chosen` domains (learn.target) or every domain."""
    d = cfg.doge
    steps, b = int(d.steps), int(d.batch_size)
    torch.manual_seed(int(cfg.seed))
    rng = np.random.default_rng(int(cfg.seed))
    model = build_model(model_config(cfg, data))
    say(f"[{label}] proxy: {describe(model)}, {steps} steps of {b} sequences per domain")
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    optimizer = torch.optim.AdamW(params, lr=float(o.lr), betas=tuple(o.betas), weight_decay=float(o.weight_decay))
    warmup = min(int(o.warmup_steps), steps // 3)
    pools = [rows_of(data, domain) for domain in data.domains]
    k = len(pools)
    weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
    total = torch.zeros(k, dtype=torch.float64)
    trajectory = []
    started = time.perf_counter()
    n_params = sum(p.numel() for p in params)
    for t in range(steps):
        lr = lr_at(t, steps, float(o.lr), warmup, float(o.min_lr_ratio))
        for group in optimizer.param_groups:
            group["lr"] = lr
        grads = []
        for rows in pools:
            batch = draw(rows, b, rng)
            grads.append(
                flat_grad(model, model.token_losses(batch[:, :-1], batch[:, 1:]).mean(), float(d.max_grad_norm))
            )
        grads = torch.stack(grads).double()
        if target_rows is not None:
            batch = draw(target_rows, b, rng)
            loss = model.token_losses(batch[:, :-1], batch[:, 1:]).mean()
            aim = flat_grad(model, loss, float(d.max_grad_norm)).double()
        elif chosen is not None and len(chosen) < k:
            aim = grads[chosen].sum(dim=0)
        else:
            aim = None
        score = rule.scores(grads, aim, lr, float(d.dw_min), float(d.dw_max))
        weights = rule.step(weights, score, float(d.mu))
        total += weights
        trajectory.append(weights.tolist())
        combined = (weights[:, None] * grads).sum(dim=0).float()
        offset = 0
        for p in params:
            p.grad = combined[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (t + 1) % max(steps // 4, 1) == 0 or t + 1 == steps:
            spent = time.perf_counter() - started
            shown = ", ".join(f"{dom} {w:.3f}" for dom, w in zip(data.domains, weights.tolist()))
            say(f"[{label}] step {t + 1}/{steps}  weights {shown}  eta {spent / (t + 1) * (steps - t - 1):.0f}s")
    sequences = steps * b * (k + (target_rows is not None))
    flops = 6.0 * n_params * sequences * int(data.seq_len)  # forward and backward of every batch
    return {"weights": (total / steps).tolist(), "last": weights.tolist(), "trajectory": trajectory, "flops": flops}
