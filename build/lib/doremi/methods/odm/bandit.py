"""Online Data Mixing (Albalak et al., 2023): domains are the arms of an EXP3 bandit whose reward is
the training loss, so that the mixture leans toward the domains the model still finds hard.

Pure NumPy, no training code. With K domains, at optimizer step t (ODM counts steps):

    ε_t = min(1/K, sqrt(ln K / (K·t)))                                  exploration
    π_t = (1 − K·ε_t) · softmax(ε_{t−1} · R̂) + ε_t                       the mixture
    R̂_i ← α·R̂_i + (1 − α) · L_i / π_i      for every domain i seen       importance-weighted reward

where L_i is domain i's mean training loss over the last `every` steps (ODM updates after each
batch of one domain; here every domain's loss of a window of batches is one pull per domain,
which the 1/π_i weighting keeps comparable across domains drawn at different rates).
"""

from __future__ import annotations

import math

import numpy as np


def epsilon(t: int, k: int) -> float:
    return min(1.0 / k, math.sqrt(math.log(k) / (k * max(t, 1))))


def mixture(rewards: np.ndarray, t: int) -> np.ndarray:
    """π_t from the smoothed rewards at step t."""
    k = len(rewards)
    if k == 1:
        return np.ones(1)
    logits = epsilon(t - 1, k) * rewards if t > 0 else np.zeros(k)
    p = np.exp(logits - logits.max())
    eps = epsilon(t, k)
    return (1 - k * eps) * p / p.sum() + eps


def update(
    rewards: np.ndarray, losses: np.ndarray, seen: np.ndarray, weights: np.ndarray, smoothing: float
) -> np.ndarray:
    """R̂ after one window: domains without a row keep their reward."""
    fresh = smoothing * rewards + (1 - smoothing) * losses / np.maximum(weights, 1e-12)
    return np.where(seen, fresh, rewards)
