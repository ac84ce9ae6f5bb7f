"""The mixture sampler in other people's loops: a resumable DataLoader, a LightningDataModule,
and a per-sequence dataset for the Hugging Face Trainer.

Resuming: a batch's position is its `step`. `MixtureLoader` remembers the step of the
next batch to train on and hands it to Lightning through the `state_dict` /
`load_state_dict` protocol, so a checkpoint taken mid-epoch resumes exactly there.
Lightning fetches one batch ahead, so the loader cannot tell from its own iteration which
batch the model has consumed; `MixtureDataModule` tells it (from `on_after_batch_transfer`,
which runs on the batch about to be trained on). In a plain loop with no prefetching the
loader counts the batches it handed out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.data.packing import PackedData
from doremi.data.sampler import MixtureBatches, MixtureSampler


def mixture_batches(
    data: PackedData,
    weights: list[float],
    batch_size: int,
    seed: int,
    split: str = "train",
    micro_batches: int = 1,
    steps_only: bool = False,
) -> MixtureBatches:
    """MixtureBatches over every domain of a prepared run directory."""
    sampler = MixtureSampler(data.chunk_counts(split), list(weights), batch_size, seed)
    chunks = [data.chunks(split, d) for d in data.domains]
    return MixtureBatches(chunks, sampler, micro_batches=micro_batches, steps_only=steps_only)


class MixtureLoader(torch.utils.data.DataLoader):
    """DataLoader of whole mixture batches that checkpoints and resumes its position."""

    def __init__(self, batches: MixtureBatches, num_workers: int = 0, pin_memory: bool = False):
        super().__init__(batches, batch_size=None, num_workers=num_workers, pin_memory=pin_memory)
        self.next_step = int(batches.start_step)
        self._count_yields = True  # until a consumer reports what it trained on

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        self.dataset.start_step = self.next_step
        for batch in super().__iter__():
            if self._count_yields:
                self.next_step = self._after(batch)
            yield batch

    def _after(self, batch: dict) -> int:
        """The step to resume at once `batch` is trained on (a step ends with its last micro-batch)."""
        last_micro = int(batch.get("micro", 0)) == self.dataset.micro_batches - 1
        return int(batch["step"]) + (1 if last_micro else 0)

    def consumed(self, batch: dict) -> None:
        """Report that `batch` is being trained on (the resume point becomes the one after it)."""
        self._count_yields = False
        self.next_step = self._after(batch)

    def passes(self) -> np.ndarray:
        """Passes over each domain's chunks by the batches consumed so far."""
        s = self.dataset.sampler
        replay = MixtureSampler(s.chunk_counts.tolist(), s.weights.tolist(), s.batch_size, s.seed)
        replay.schedule = list(s.schedule)
        replay.seek(self.next_step)
        return replay.passes()

    def state_dict(self) -> dict:
        s = self.dataset.sampler
        schedule = [[start, w.tolist()] for start, w in s.schedule]
        return {
            "next_step": self.next_step,
            "seed": s.seed,
            "batch_size": s.batch_size,
            "weights": s.weights.tolist(),
            "schedule": schedule,
        }

    def load_state_dict(self, state: dict) -> None:
        s = self.dataset.sampler
        mine = {"seed": s.seed, "batch_size": s.batch_size, "weights": s.weights.tolist()}
        for key, value in mine.items():
            if key not in state:
                raise DoremiError(f"checkpoint's sampler state has no '{key}': it was not written by MixtureLoader")
            if not np.allclose(state[key], value, rtol=0, atol=1e-12):
                raise DoremiError(
                    f"checkpoint's sampler {key}={state[key]} but this run's is {value}: "
                    "resume with the settings the checkpoint was made with"
                )
        self.next_step = int(state["next_step"])
        s.schedule = [(int(start), np.asarray(w, dtype=np.float64)) for start, w in state.get("schedule", [])]
        s.reset()


class MixtureDataModule(pl.LightningDataModule):
    """Training batches drawn with `weights` from a prepared run; optional fixed validation batches.

    Checkpoints carry the sampler position (through the loader's state_dict); a resumed
    `trainer.fit(..., ckpt_path=...)` trains on exactly the batches an uninterrupted run would.
    """

    def __init__(
        self,
        data: PackedData | None,
        weights: list[float],
        batch_size: int,
        seed: int,
        val_batches: list[dict] | None = None,
        num_workers: int = 0,
        micro_batches: int = 1,
        steps_only: bool = False,
    ):
        super().__init__()
        self.data, self.weights, self.batch_size, self.seed = data, list(weights), int(batch_size), int(seed)
        self.val_batches = val_batches
        self.num_workers = num_workers
        self.micro_batches = micro_batches
        self.steps_only = steps_only  # batches of {"step"} only: the module draws its own (proxy resampling)
        self.loader: MixtureLoader | None = None

    @property
    def seq_len(self) -> int:
        """Tokens per training sequence."""
        return int(self.data.seq_len)

    def make_batches(self) -> MixtureBatches:
        """The training batches (a subclass may draw them from other rows than a prepared run's)."""
        return mixture_batches(
            self.data,
            self.weights,
            self.batch_size,
            self.seed,
            micro_batches=self.micro_batches,
            steps_only=self.steps_only,
        )

    def train_dataloader(self) -> MixtureLoader:
        self.loader = MixtureLoader(self.make_batches(), num_workers=self.num_workers)
        return self.loader

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_batches or [], batch_size=None)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training and isinstance(batch, dict) and "step" in batch:
            loader = self.trainer.train_dataloader
            (loader if isinstance(loader, MixtureLoader) else self.loader).consumed(batch)
        return batch


class ChatData(MixtureDataModule):
    """Batches of chats (token rows with response masks) drawn source by source with `weights`
    (default uniform: with batch_size >= sources, every source in every batch)."""

    def __init__(
        self,
        tokens: list[np.ndarray],
        masks: list[np.ndarray],
        batch_size: int,
        seed: int,
        weights: list[float] | None = None,
        **kwargs,
    ):
        k = len(tokens)
        super().__init__(None, weights or [1.0 / k] * k, batch_size, seed, **kwargs)
        self.tokens, self.masks = tokens, masks

    @property
    def seq_len(self) -> int:
        return int(self.tokens[0].shape[1]) - 1

    def make_batches(self) -> MixtureBatches:
        sampler = MixtureSampler([len(t) for t in self.tokens], self.weights, self.batch_size, self.seed)
        return MixtureBatches(
            self.tokens, sampler, micro_batches=self.micro_batches, steps_only=self.steps_only, domain_masks=self.masks
        )


class MixtureSequences(torch.utils.data.IterableDataset):
    """Single sequences {input_ids, labels} in the sampler's order, for the Hugging Face Trainer.

    Set `per_device_train_batch_size * processes * gradient_accumulation_steps` to the
    sampler's batch size: the Trainer's loader then cuts the stream into the sampler's
    batches. Models that shift labels themselves (Hugging Face causal LMs) take the whole
    chunk as both input and labels.
    """

    def __init__(self, batches: MixtureBatches):
        self.batches = batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        step = self.batches.start_step
        while True:
            batch = self.batches.make_batch(step, 0, 1)
            chunks = torch.cat([batch["input"], batch["target"][:, -1:]], dim=1)
            for row in chunks:
                yield {"input_ids": row, "labels": row}
            step += 1
