"""One supervised fine-tune: a saved base model trained on chats (response tokens only, LIMA's schedule), in full
or with LoRA (sft.lora, peft, Hugging Face models only), then scored. Used by stage=sft and by every trial of
stage=sft_compare, so that both fine-tune the same way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.data.loaders import ChatData
from doremi.training.model import build_model
from doremi.training.sft import SFTModule, encode_chat
from doremi.training.shard import whole
from doremi.training.train import fit


@dataclass
class Rows:
    """Chats encoded for one model: token rows, response masks, sources (and the chats, for samples)."""

    tokens: np.ndarray  # (chats, length + 1)
    masks: np.ndarray  # (chats, length + 1)
    sources: list[str]
    messages: list[list[dict]]

    def __len__(self) -> int:
        return len(self.sources)


def encode(tokenizer, records: list[dict], length: int) -> Rows:
    """Records ({messages, source}) as rows of `length` + 1 tokens."""
    encoded = [encode_chat(tokenizer, r["messages"], length) for r in records]
    tokens = np.stack([t for t, _ in encoded]) if encoded else np.zeros((0, length + 1), dtype=np.int64)
    masks = np.stack([m for _, m in encoded]) if encoded else np.zeros((0, length + 1), dtype=bool)
    return Rows(tokens, masks, [str(r["source"]) for r in records], [r["messages"] for r in records])


def check_lora(model_config: dict, lora) -> None:
    """sft.lora.r > 0 asks for LoRA, which needs a Hugging Face model: one line before any work otherwise."""
    if int(lora.r) > 0 and model_config.get("arch", "gpt") != "hf":
        raise DoremiError(
            f"sft.lora.r={lora.r}: LoRA (peft) adapts Hugging Face models (model=hf); this base is the built-in GPT, "
            "which fine-tunes in full: set sft.lora.r=0, or train the models with model=hf"
        )


def steps_of(chats: int, batch_size: int, epochs: int) -> tuple[int, int]:
    """(batch, optimizer steps): every chat once per epoch."""
    batch = max(min(batch_size, chats), 1)
    return batch, epochs * math.ceil(chats / batch)


def fine_tune(base: dict, rows: Rows, sft, run, seed: int, folder: Path, label: str) -> torch.nn.Module:
    """The base model (a doremi.store.checkpoints record) fine-tuned on `rows` with seed `seed` (the order of the chats
    and dropout); checkpoints and logs under `folder`. Returns the trained model, LoRA merged into it."""
    check_lora(base["model_config"], sft.lora)
    batch, steps = steps_of(len(rows), int(sft.batch_size), int(sft.epochs))
    sources = sorted(set(rows.sources))
    pl.seed_everything(int(seed), verbose=False)
    module = SFTModule(
        base["model_config"],
        sources,
        sft.lr,
        sft.min_lr_ratio,
        list(sft.betas),
        sft.weight_decay,
        steps,
        sft.dropout_top,
        run.accumulate_grad_batches,
    )
    module.model.load_state_dict(base["state_dict"])
    lora = int(sft.lora.r) > 0
    if lora:
        module.model.add_lora(int(sft.lora.r), float(sft.lora.alpha), float(sft.lora.dropout), sft.lora.target_modules)
    index = {s: [i for i, x in enumerate(rows.sources) if x == s] for s in sources}
    chats = ChatData(
        [rows.tokens[index[s]] for s in sources],
        [rows.masks[index[s]] for s in sources],
        batch,
        int(seed),
        weights=[len(index[s]) / len(rows) for s in sources],
        micro_batches=run.accumulate_grad_batches,
    )
    fit(module, chats, run, folder, label, steps)
    model = whole(module.model, lambda: build_model(base["model_config"]))  # gathered under fsdp
    if lora:
        model.merge_lora()
    return model


def trainable_share(base: dict, sft) -> float:
    """The share of the model's weights a fine-tune trains: 1 in full, LoRA's adapters' share otherwise."""
    if int(sft.lora.r) == 0:
        return 1.0
    model = build_model(base["model_config"])
    total = sum(p.numel() for p in model.parameters())
    model.add_lora(int(sft.lora.r), float(sft.lora.alpha), float(sft.lora.dropout), sft.lora.target_modules)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trained / total


@torch.no_grad()
def response_sums(model: torch.nn.Module, rows: Rows, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(summed response nats, response tokens) of every chat: the dev set's per-example scores."""
    model.eval()
    device = next(model.parameters()).device
    sums, counts = [], []
    for s in range(0, len(rows), batch_size):
        tokens = torch.from_numpy(rows.tokens[s : s + batch_size]).to(device)
        keep = torch.from_numpy(rows.masks[s : s + batch_size, 1:]).to(device).double()
        losses = model.token_losses(tokens[:, :-1], tokens[:, 1:]).double()
        sums.append((losses * keep).sum(dim=1).cpu().numpy())
        counts.append(keep.sum(dim=1).cpu().numpy())
    return (np.concatenate(sums), np.concatenate(counts)) if sums else (np.zeros(0), np.zeros(0))
