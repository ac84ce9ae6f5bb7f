"""Aioli (Chen et al., 2024, arXiv 2411.05735): online mixing from a mixing law re-estimated during training.

Pure NumPy, no training code; checked against the reference (HazyResearch/aioli, trainer/aioli_trainer.py,
`learn_params_subroutine` and `train`). Every round of `update_steps` training steps:

1. LearnParams: `lp_rounds` random orders of the k domains; for each domain j in turn, `lp_steps` training
   steps on the smoothed one-hot mixture (j gets `one_hot_factor`, the others share the rest), then every
   domain's loss on a probe set; column j of the matrix gains the drop in each domain's loss they caused.
   Those steps are training steps of the run and count in its budget, as in Aioli.
2. The matrix, averaged over sweeps, is unmixed (the smoothed one-hot batches held other domains too: each
   row solved against the matrix of the mixtures used) and normalized (shifted so its smallest entry is 0,
   divided by its sum: Aioli's `aioli_normalize_A`); optionally smoothed over rounds (`ema`, the reference's
   EMA form: (1 - ema) * new + ema * old).
3. Exponentiated gradient on the proportions: w <- w * exp(eta * column sums), normalized, so that the domains
   whose training lowers the most loss (all domains counted) gain weight; the rest of the round trains on w.

Where the reference resets the first round's weights to uniform, this starts from the mixture learned before
(`stratified` unless given), Aioli's "restricted" setting: it adjusts a prior instead of ignoring it.
"""

from __future__ import annotations

import numpy as np


def sweep_order(k: int, lp_rounds: int, rng: np.random.Generator) -> list[int]:
    """The domains' order in LearnParams: `lp_rounds` random permutations, one after the other."""
    return [int(j) for _ in range(lp_rounds) for j in rng.permutation(k)]


def smoothed_one_hot(k: int, j: int, factor: float) -> np.ndarray:
    """Domain j at `factor`, every other at (1 - factor) / (k - 1)."""
    if k == 1:
        return np.ones(1)
    w = np.full(k, (1 - factor) / (k - 1))
    w[j] = factor
    return w


def probe_condition(k: int, factor: float) -> float:
    """The condition number of the k smoothed one-hot mixtures LearnParams sweeps (the matrix `unmix` solves):
    its eigenvalues are 1 and (k factor - 1) / (k - 1), so it is singular at factor = 1/k (every probe batch
    uniform: nothing tells the domains apart)."""
    if k == 1 or factor >= 1:
        return 1.0
    small = abs(k * factor - 1) / (k - 1)
    return float("inf") if small == 0 else max(1.0, small) / min(1.0, small)


def unmix(graph: np.ndarray, factor: float) -> np.ndarray:
    """Each row solved against the smoothed one-hot mixtures used (the reference's non-diagonal form)."""
    k = len(graph)
    if factor >= 1 or k == 1:
        return graph
    mixtures = np.stack([smoothed_one_hot(k, i, factor) for i in range(k)])
    return np.stack([np.linalg.solve(mixtures, row) for row in graph])


def normalize(graph: np.ndarray) -> np.ndarray:
    """Shifted so that its smallest entry is 0 (when negative), divided by its sum."""
    out = graph - min(graph.min(), 0.0)
    total = out.sum()
    return out / total if total > 0 else np.full_like(out, 1.0 / out.size)


def update(weights: np.ndarray, graph: np.ndarray, eta: float) -> np.ndarray:
    """w * exp(eta * column sums), normalized (in log space)."""
    logits = np.log(np.maximum(weights, 1e-300)) + eta * graph.sum(axis=0)
    w = np.exp(logits - logits.max())
    return w / w.sum()
