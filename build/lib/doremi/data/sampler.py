"""Weighted domain sampling over packed chunks, with exact proportions.

Guarantees (tested in tests/data/test_sampler.py):

- Per batch, domain i gets floor(w_i * B) or that plus one sequence; after any number of
  batches its cumulative count is within 1 of w_i * (sequences drawn). The extra
  sequences of each batch go to the domains furthest behind their share.
- A zero-weight domain is never drawn. With uniform weights and B >= k every domain is
  in every batch (the proxy's stratified minibatch).
- Within a domain, chunks are drawn without replacement in a seeded order; when the
  domain is used up a new pass begins with a fresh order. Passes are counted.
- Weights may change during a run (online mixing): `set_weights(from_step, w)` adds an entry to
  the schedule, and every batch from `from_step` on is allocated with `w`. The schedule is
  part of the state, so the guarantees above hold between changes and a replay with the same
  schedule draws the same batches.
- Batch `step` is a pure function of (seed, step, schedule): `batch(step)` replays the allocation
  from step 0 when asked out of order, so a resumed run draws what an uninterrupted one
  would. Process `rank` of `world` takes positions rank, rank + world, ... of the
  global batch: processes draw disjoint sequences.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from doremi.config.errors import DoremiError
from doremi.data.alloc import largest_remainder
from doremi.store.runtime import rank_world


class MixtureSampler:
    def __init__(self, chunk_counts: list[int], weights: list[float], batch_size: int, seed: int):
        weights_arr = np.asarray(weights, dtype=np.float64)
        counts = np.asarray(chunk_counts, dtype=np.int64)
        if weights_arr.shape != counts.shape:
            raise DoremiError(f"sampler: {len(weights)} weights for {len(chunk_counts)} domains")
        if not np.all(np.isfinite(weights_arr)) or (weights_arr < 0).any() or abs(weights_arr.sum() - 1) > 1e-6:
            raise DoremiError(f"sampler: weights must be finite, >= 0 and sum to 1 (got {weights_arr.tolist()})")
        if ((weights_arr > 0) & (counts == 0)).any():
            empty = int(np.flatnonzero((weights_arr > 0) & (counts == 0))[0])
            raise DoremiError(f"sampler: domain #{empty} has weight > 0 but no chunks to draw")
        self.weights = weights_arr
        self.chunk_counts = counts
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.schedule: list[tuple[int, np.ndarray]] = []  # (from step, weights) after the initial weights
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}
        self.reset()

    def weights_at(self, step: int) -> np.ndarray:
        current = self.weights
        for start, weights in self.schedule:
            if start <= step:
                current = weights
        return current

    def set_weights(self, from_step: int, weights) -> int:
        """Allocate every batch from `from_step` on with `weights`; never a batch already allocated (the
        change starts at the first one not yet drawn). Returns the step it starts at."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != self.weights.shape or not np.all(np.isfinite(w)) or (w < 0).any() or abs(w.sum() - 1) > 1e-6:
            raise DoremiError(f"sampler: new weights must be {len(self.weights)} finite shares summing to 1")
        if ((w > 0) & (self.chunk_counts == 0)).any():
            raise DoremiError("sampler: a new weight > 0 for a domain with no chunks")
        start = max(int(from_step), self.step, self.schedule[-1][0] if self.schedule else 0)
        self.schedule = [(s, x) for s, x in self.schedule if s < start] + [(start, w)]
        return start

    # -- allocation state: how many sequences each domain got so far --------------------
    def reset(self) -> None:
        self.step = 0
        self.owed = np.zeros(len(self.weights))  # fractions of a sequence each domain is behind its share
        self.drawn = np.zeros(len(self.weights), dtype=np.int64)  # sequences drawn so far, per domain

    def _counts_next(self) -> np.ndarray:
        """Per-domain counts of the next batch (advances the allocation by one batch)."""
        weights = self.weights_at(self.step)
        counts, self.owed = largest_remainder(weights * self.batch_size, self.batch_size, self.owed)
        self.step += 1
        return counts

    def seek(self, step: int) -> None:
        """Put the allocation at the start of batch `step` (replaying from 0 if needed)."""
        if step < self.step:
            self.reset()
        while self.step < step:
            self.drawn += self._counts_next()

    # -- drawing chunks ----------------------------------------------------------------
    def _permutation(self, domain: int, epoch: int) -> np.ndarray:
        key = (domain, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 4 * len(self.chunk_counts):
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, domain, epoch])
            self._perm_cache[key] = rng.permutation(int(self.chunk_counts[domain]))
        return self._perm_cache[key]

    def _chunk_ids(self, domain: int, start: int, count: int) -> np.ndarray:
        n = int(self.chunk_counts[domain])
        positions = np.arange(start, start + count)
        out = np.empty(count, dtype=np.int64)
        for epoch in np.unique(positions // n):
            sel = positions // n == epoch
            out[sel] = self._permutation(domain, int(epoch))[positions[sel] % n]
        return out

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(domain ids, chunk ids) of this process's share of global batch `step`."""
        self.seek(step)
        start = self.drawn.copy()
        counts = self._counts_next()
        self.drawn += counts
        return self.draw(counts, start, step, rank, world)

    def draw(
        self, counts: np.ndarray, start: np.ndarray, step: int, rank: int = 0, world: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(domain ids, chunk ids) of this process's share of a global batch of `counts[d]` chunks
        of each domain d, taken from position `start[d]` of the domain's seeded order."""
        domains = np.repeat(np.arange(len(counts)), counts)
        chunks = np.concatenate([self._chunk_ids(d, int(start[d]), int(c)) for d, c in enumerate(counts) if c > 0])
        # shuffle positions within the batch so that each process gets a mix of domains
        order = np.random.default_rng([self.seed, 1_000_003, step]).permutation(len(domains))
        domains, chunks = domains[order], chunks[order]
        return domains[rank::world], chunks[rank::world]

    def passes(self) -> np.ndarray:
        """Passes over each domain's chunks so far (1.0 = every chunk seen once)."""
        return self.drawn / np.maximum(self.chunk_counts, 1)


def chunk_batch(
    domain_chunks: list[np.ndarray],
    domains: np.ndarray,
    chunks: np.ndarray,
    step: int,
    domain_masks: list[np.ndarray] | None = None,
) -> dict:
    """{input, target, domain, chunk, step} tensors of the given chunks of the given domains.

    With `domain_masks` (rows like the chunks', true where a token is trained on, e.g. an
    SFT response) the batch also has "mask", aligned with "target".
    """
    rows = np.stack([domain_chunks[d][c] for d, c in zip(domains, chunks)]).astype(np.int64)
    tokens = torch.from_numpy(rows)
    batch = {
        "input": tokens[:, :-1],
        "target": tokens[:, 1:],
        "domain": torch.from_numpy(domains.astype(np.int64)),
        "chunk": torch.from_numpy(chunks.astype(np.int64)),
        "step": torch.tensor(step, dtype=torch.long),
    }
    if domain_masks is not None:
        masks = np.stack([domain_masks[d][c] for d, c in zip(domains, chunks)]).astype(bool)
        batch["mask"] = torch.from_numpy(masks[:, 1:])
    return batch


class MixtureBatches(torch.utils.data.IterableDataset):
    """Endless batches {input, target, domain, step} drawn by a MixtureSampler from packed chunks.

    Yields whole batches (use `DataLoader(..., batch_size=None)`, or `MixtureLoader`) with
    the domain and chunk id of every row;
    `batch_size` is the global batch, split across processes. With DataLoader workers,
    worker w of W makes batches start+w, start+w+W, ... and the DataLoader's round-robin
    puts them back in order.
    """

    def __init__(
        self,
        domain_chunks: list[np.ndarray],
        sampler: MixtureSampler,
        start_step: int = 0,
        micro_batches: int = 1,
        steps_only: bool = False,
        domain_masks: list[np.ndarray] | None = None,
    ):
        self.domain_chunks = domain_chunks
        self.domain_masks = domain_masks  # optional per-token training masks (see chunk_batch)
        self.sampler = sampler
        self.start_step = start_step
        self.micro_batches = micro_batches  # gradient accumulation: each batch is yielded this many times
        self.steps_only = steps_only  # yield {"step"} only: the consumer draws the batch itself (resampling)

    def make_batch(self, step: int, rank: int, world: int) -> dict[str, torch.Tensor]:
        if self.steps_only:
            return {"step": torch.tensor(step, dtype=torch.long)}
        domains, chunks = self.sampler.batch(step, rank, world)
        return chunk_batch(self.domain_chunks, domains, chunks, step, self.domain_masks)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rank, world = rank_world()
        worker = torch.utils.data.get_worker_info()
        offset, stride = (worker.id, worker.num_workers) if worker else (0, 1)
        m = self.micro_batches
        item = self.start_step * m + offset  # items are (step, micro-batch) pairs, in order
        built, batch = -1, None
        while True:
            step, micro = divmod(item, m)
            if step != built:
                batch, built = self.make_batch(step, rank, world), step
            # with accumulation every micro-batch carries the whole batch and its index (lit.lm.micro_part)
            yield batch if m == 1 else {**batch, "micro": torch.tensor(micro)}
            item += stride
