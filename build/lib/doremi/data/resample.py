"""Batches drawn with weights that change every step: the proxy's resampling variant.

With `dro.sampling=resample` the proxy does not reweight a uniform batch by alpha; it
draws step t's batch with alpha_{t-1} and trains on its plain mean loss. The allocation
keeps exact proportions over time, as the fixed-weight sampler does: each batch gives
domain i floor(alpha_i * B) sequences, and the B - sum(floor) extra ones go to the
domains owed most, so that after any number of steps a domain's count is within one
sequence of the sum of alpha_i * B over those steps (tested in tests/data/test_resample.py).

The state that makes a batch reproducible (what each domain is owed, how far each
domain's seeded chunk order has been drawn) is passed in and returned, so the proxy can
keep it in checkpointed buffers.
"""

from __future__ import annotations

import numpy as np
import torch

from doremi.data.alloc import largest_remainder
from doremi.data.sampler import MixtureSampler, chunk_batch


def allocate(weights: np.ndarray, owed: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sequences per domain for one batch drawn with `weights`, the new amounts owed).

    `owed[i]`: the fraction of a sequence domain i is behind its share (sums to 0).
    """
    return largest_remainder(np.asarray(weights, dtype=np.float64) * batch_size, batch_size, owed)


class ResampledBatches:
    """Step t's batch for this process, drawn with the weights of the moment."""

    def __init__(
        self,
        domain_chunks: list[np.ndarray],
        chunk_counts: list[int],
        batch_size: int,
        seed: int,
        domain_masks: list[np.ndarray] | None = None,
    ):
        k = len(chunk_counts)
        # the sampler supplies each domain's seeded chunk order (the same orders as the uniform sampler's)
        self.orders = MixtureSampler(chunk_counts, [1.0 / k] * k, batch_size, seed)
        self.domain_chunks = domain_chunks
        self.domain_masks = domain_masks
        self.batch_size = int(batch_size)

    def batch(
        self, step: int, weights: np.ndarray, owed: np.ndarray, drawn: np.ndarray, rank: int = 0, world: int = 1
    ) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray, np.ndarray]:
        """(this process's share of the batch, sequences per domain in the global batch, new owed, new drawn)."""
        counts, owed = allocate(weights, owed, self.batch_size)
        domains, chunks = self.orders.draw(counts, drawn, step, rank, world)
        return chunk_batch(self.domain_chunks, domains, chunks, step, self.domain_masks), counts, owed, drawn + counts
