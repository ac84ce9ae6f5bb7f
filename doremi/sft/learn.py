"""Learned SFT quotas (`sft.mixture=learned`): DoReMi over instruction sources.

The same machinery as the pretraining proxy, with sources in place of domains and chats
in place of chunks:

1. a pretrained base (`sft.learn.base`: the run's small reference LM by default) is
   fine-tuned on uniform quotas: every batch holds every source equally (the reference);
2. the same base is fine-tuned again with Group DRO against it: the excess loss is
   counted on response tokens only (the chats' loss masks), and the weights move by the
   exponentiated-gradient update of DESIGN.md (`dro.*`: eta, smoothing, variants);
3. the averaged weights become the quotas.

Writes `<out>/trajectory.jsonl` (one line per step, the proxy's format), `<out>/mixture.json`
(a mixture over sources) and the reference's training log under `<out>/reference/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from doremi.data.loaders import MixtureDataModule
from doremi.data.packing import PackedData
from doremi.data.resample import ResampledBatches
from doremi.data.sampler import MixtureBatches, MixtureSampler
from doremi.data.tokenizer import load_saved
from doremi.errors import DoremiError
from doremi.lit.callbacks import TrajectoryWriter
from doremi.lit.lm import LMModule
from doremi.lit.sft import encode_chat
from doremi.lit.train import fit
from doremi.mixture import make_mixture, write_mixture
from doremi.sft.examples import Example
from doremi.stages.common import is_main_process, load_checkpoint, say, stage_dir
from doremi.stages.proxy import proxy_module


class ChatData(MixtureDataModule):
    """Batches of chats drawn source by source, with the response masks (uniform: every source in every batch)."""

    def __init__(self, tokens: list[np.ndarray], masks: list[np.ndarray], batch_size: int, seed: int, **kwargs):
        k = len(tokens)
        super().__init__(None, [1.0 / k] * k, batch_size, seed, **kwargs)
        self.tokens, self.masks = tokens, masks

    def make_batches(self) -> MixtureBatches:
        sampler = MixtureSampler([len(t) for t in self.tokens], self.weights, self.batch_size, self.seed)
        return MixtureBatches(
            self.tokens, sampler, micro_batches=self.micro_batches, steps_only=self.steps_only, domain_masks=self.masks
        )


def base_model(cfg: DictConfig, data: PackedData) -> tuple[dict, Path]:
    """The saved model both fine-tunings start from, and its path."""
    spec = str(cfg.sft.learn.base)
    path = stage_dir(cfg, spec) / "model.pt" if spec in ("reference", "final") else Path(spec)
    what = f"stage={spec}" if spec in ("reference", "final") else "a stage that saves a model.pt"
    if not path.exists():
        raise DoremiError(
            f"sft.mixture=learned fine-tunes sft.learn.base={spec}, but {path} is not there: run {what} first "
            "(same run_dir=) or point sft.learn.base at a model.pt"
        )
    return load_checkpoint(path, data, what), path


def encode_sources(
    tokenizer, by_source: dict[str, list[Example]], sources: list[str], length: int
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Token rows and response masks per source; sources with no response token in reach are left out."""
    used, tokens, masks = [], [], []
    for source in sources:
        rows = [encode_chat(tokenizer, ex.messages, length) for ex in by_source.get(source, [])]
        rows = [(t, m) for t, m in rows if m[1:].any()]
        if not rows:
            say(f"[sft_mix] source {source!r} has no response within {length} tokens: it gets no quota")
            continue
        used.append(source)
        tokens.append(np.stack([t for t, _ in rows]))
        masks.append(np.stack([m for _, m in rows]))
    return used, tokens, masks


def learn_source_weights(
    cfg: DictConfig,
    data: PackedData,
    base: dict,
    base_path: Path,
    by_source: dict[str, list[Example]],
    sources: list[str],
    out_dir: Path,
) -> dict[str, float]:
    """{source: learned weight} (0 for sources left out); writes the trajectory and mixture under out_dir.

    `data`: the run's prepared data (its tokenizer); `base`, `base_path`: from `base_model`.
    """
    learn = cfg.sft.learn
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    model_cfg = dict(base["model_config"])
    used, tokens, masks = encode_sources(tokenizer, by_source, sources, int(model_cfg["seq_len"]))
    if len(used) < 2:
        raise DoremiError(
            f"sft.mixture=learned needs two or more sources with examples after filters and dedup; found {used}"
        )
    steps, batch_size = int(learn.steps), int(learn.batch_size)
    if batch_size < len(used):
        raise DoremiError(
            f"sft.learn.batch_size={batch_size} is smaller than the {len(used)} sources: every batch must hold "
            f"every source; set sft.learn.batch_size >= {len(used)}"
        )
    sft = cfg.sft
    optim = {
        "lr": float(sft.lr),
        "betas": list(sft.betas),
        "weight_decay": float(sft.weight_decay),
        "warmup_steps": 0,
        "min_lr_ratio": float(sft.min_lr_ratio),
        "fused": OmegaConf.select(cfg, "optim.fused", default="auto"),
    }
    micro = int(cfg.trainer.accumulate_grad_batches)
    say(
        f"[sft_mix] learning quotas over {len(used)} sources from {base_path}: reference on uniform quotas, "
        f"then Group DRO on response-token excess loss, {steps} steps each"
    )

    # 1. the reference: the base fine-tuned on uniform quotas (kept, so that a resumed run skips it)
    saved = out_dir / "reference" / "model.pt"
    if saved.exists():
        reference_state = torch.load(saved, map_location="cpu", weights_only=True)
    else:
        pl.seed_everything(int(cfg.seed), verbose=False)
        reference = LMModule(model_cfg, used, optim, steps, micro)
        reference.model.load_state_dict(base["state_dict"])
        chats = ChatData(tokens, masks, batch_size, int(cfg.seed), micro_batches=micro)
        fit(cfg, reference, out_dir / "reference", "sft-reference", None, [], steps, batch_size, datamodule=chats)
        reference_state = reference.model.state_dict()
        if is_main_process():
            torch.save(reference_state, saved)

    # 2. the proxy: the base again, with Group DRO against the reference
    pl.seed_everything(int(cfg.seed), verbose=False)
    proxy = proxy_module(cfg, model_cfg, used, optim, steps, init=None)
    proxy.model.load_state_dict(base["state_dict"])
    proxy.load_reference(reference_state)
    resample = cfg.dro.sampling == "resample"
    if resample:
        proxy.resampler = ResampledBatches(tokens, [len(t) for t in tokens], batch_size, int(cfg.seed), masks)
    chats = ChatData(tokens, masks, batch_size, int(cfg.seed), micro_batches=micro, steps_only=resample)
    callbacks = [TrajectoryWriter(out_dir / "trajectory.jsonl")]
    fit(cfg, proxy, out_dir, "sft-proxy", None, [], steps, batch_size, callbacks=callbacks, datamodule=chats)

    weights = proxy.average_weights()
    provenance = {
        "method": "doremi-sft",
        "eta": float(cfg.dro.eta),
        "smoothing": float(cfg.dro.smoothing),
        "steps": int(proxy.dro_steps),
        "seed": int(cfg.seed),
        "base": str(base_path),
        "examples": {s: len(t) for s, t in zip(used, tokens)},
        "normalize": str(cfg.dro.normalize),
        "clip": str(cfg.dro.clip),
        "sampling": str(cfg.dro.sampling),
        **proxy.diagnostics(),
    }
    uniform = [1.0 / len(used)] * len(used)
    mixture = make_mixture(used, weights, {"uniform": uniform}, provenance)
    if is_main_process():
        write_mixture(out_dir / "mixture.json", mixture)
    say("[sft_mix] learned source weights: " + ", ".join(f"{s} {w:.3f}" for s, w in mixture["weights"].items()))
    return {s: mixture["weights"].get(s, 0.0) for s in sources}
