"""Learned SFT quotas (`sft.mixture=learned`): DoReMi over instruction sources.

The same machinery as the pretraining proxy, with sources in place of domains and chats
in place of chunks:

1. a pretrained base (`sft.learn.base`: the run's small reference LM by default) is
   fine-tuned on uniform quotas: every batch holds every source equally (the reference);
2. the same base is fine-tuned again with Group DRO against it: the excess loss is
   counted on response tokens only (the chats' loss masks), and the weights move by the
   exponentiated-gradient update of docs/concepts/algorithm.md (`dro.*`: eta, smoothing, variants);
3. the averaged weights become the quotas.

Writes `<out>/trajectory.jsonl` (one line per step, the proxy's format), `<out>/mixture.json`
(a mixture over sources) and the reference's training log under `<out>/reference/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.config.settings import DroSettings, TrainerSettings
from doremi.data.loaders import ChatData
from doremi.data.mixture import make_mixture, write_mixture
from doremi.data.resample import ResampledBatches
from doremi.methods.doremi.group_dro import train_group_dro
from doremi.sft.examples import Example
from doremi.store.files import write_atomic
from doremi.store.runtime import is_main_process, say
from doremi.training.lm import LMModule
from doremi.training.model import build_model
from doremi.training.sft import encode_chat
from doremi.training.shard import whole
from doremi.training.train import fit


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
    base: dict,
    base_path: Path,
    tokenizer,
    by_source: dict[str, list[Example]],
    sources: list[str],
    out_dir: Path,
    *,
    steps: int,
    batch_size: int,
    optim: dict,
    dro: DroSettings,
    run: TrainerSettings,
    seed: int,
) -> dict[str, float]:
    """{source: learned weight} (0 for sources left out); writes the trajectory and mixture under out_dir.

    `base`: a saved model (doremi.store.checkpoints.read_model) both fine-tunings start from, read from `base_path`.
    """
    model_cfg = dict(base["model_config"])
    used, tokens, masks = encode_sources(tokenizer, by_source, sources, int(model_cfg["seq_len"]))
    if len(used) < 2:
        raise DoremiError(
            f"sft.mixture=learned needs two or more sources with examples after filters and dedup; found {used}"
        )
    if batch_size < len(used):
        raise DoremiError(
            f"sft.learn.batch_size={batch_size} is smaller than the {len(used)} sources: every batch must hold "
            f"every source; set sft.learn.batch_size >= {len(used)}"
        )
    micro = run.accumulate_grad_batches
    say(
        f"[sft_mix] learning quotas over {len(used)} sources from {base_path}: reference on uniform quotas, "
        f"then Group DRO on response-token excess loss, {steps} steps each"
    )

    # 1. the reference: the base fine-tuned on uniform quotas (kept, so that a resumed run skips it)
    saved = out_dir / "reference" / "model.pt"
    if saved.exists():
        reference_state = torch.load(saved, map_location="cpu", weights_only=True)
    else:
        pl.seed_everything(seed, verbose=False)
        reference = LMModule(model_cfg, used, optim, steps, micro)
        reference.model.load_state_dict(base["state_dict"])
        chats = ChatData(tokens, masks, batch_size, seed, micro_batches=micro)
        fit(reference, chats, run, out_dir / "reference", "sft-reference", steps)
        reference_state = whole(reference.model, lambda: build_model(model_cfg)).state_dict()
        if is_main_process():
            write_atomic(saved, lambda tmp: torch.save(reference_state, tmp))

    # 2. the proxy: the base again, with Group DRO against the reference
    resampled = ResampledBatches(tokens, [len(t) for t in tokens], batch_size, seed, masks)
    resample = dro.sampling == "resample"
    proxy, _ = train_group_dro(
        model=model_cfg,
        domains=used,
        optim=optim,
        steps=steps,
        dro=dro,
        run=run,
        datamodule=ChatData(tokens, masks, batch_size, seed, micro_batches=micro, steps_only=resample),
        reference_state=reference_state,
        out_dir=out_dir,
        label="sft-proxy",
        seed=seed,
        start_state=base["state_dict"],
        resampled=resampled if resample else None,
    )
    state = proxy.domain_weights
    provenance = {
        "method": "doremi-sft",
        "eta": dro.eta,
        "smoothing": dro.smoothing,
        "steps": int(state.steps),
        "seed": seed,
        "base": str(base_path),
        "examples": {s: len(t) for s, t in zip(used, tokens)},
        "normalize": dro.normalize,
        "clip": dro.clip,
        "sampling": dro.sampling,
        **state.diagnostics(),
    }
    uniform = [1.0 / len(used)] * len(used)
    mixture = make_mixture(used, state.average(), {"uniform": uniform}, provenance)
    if is_main_process():
        write_mixture(out_dir / "mixture.json", mixture)
    say("[sft_mix] learned source weights: " + ", ".join(f"{s} {w:.3f}" for s, w in mixture["weights"].items()))
    return {s: mixture["weights"].get(s, 0.0) for s in sources}
