"""Supervised fine-tuning: chats as token rows, loss on response tokens only, LIMA's schedule."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from doremi.training.lm import log_loss, masked_sum, mean_loss, micro_part
from doremi.training.model import build_model
from doremi.training.shard import shard

ROLE_PREFIX = {"user": "User: ", "assistant": "Assistant: ", "system": "System: "}


def encode_chat(tokenizer, messages: list[dict], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (length + 1) and a mask of the positions trained on: assistant text and its end-of-turn id.

    Every utterance ends with the tokenizer's end-of-document id, used as end-of-turn.
    Longer chats are cut at `length + 1` tokens; shorter ones are padded (masked out).
    """
    ids, mask = [], []
    for m in messages:
        prefix = tokenizer.encode_batch([ROLE_PREFIX.get(m["role"], f"{m['role']}: ")])[0].tolist()
        content = tokenizer.encode_batch([m["content"]])[0].tolist()
        train = m["role"] == "assistant"
        ids += prefix + content + [tokenizer.eod_id]
        mask += [False] * len(prefix) + [train] * (len(content) + 1)
    ids, mask = ids[: length + 1], mask[: length + 1]
    pad = length + 1 - len(ids)
    return np.array(ids + [tokenizer.eod_id] * pad, dtype=np.int64), np.array(mask + [False] * pad, dtype=bool)


def masked_loss_sums(model: nn.Module, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the losses at masked-in target positions, and their number."""
    return masked_sum(model.token_losses(tokens[:, :-1], tokens[:, 1:]), mask[:, 1:])


def rising_dropout(model: nn.Module, top: float) -> None:
    """Residual dropout rising linearly from 0 at the bottom block to `top` at the top one (LIMA). The built-in
    GPT only: a transformers model keeps the dropout its config sets."""
    if not hasattr(model, "blocks"):
        return
    n = len(model.blocks)
    for i, block in enumerate(model.blocks):
        block.drop.p = top * i / max(n - 1, 1)


class SFTModule(pl.LightningModule):
    def __init__(
        self,
        model: dict,
        sources: list[str],
        lr: float,
        min_lr_ratio: float,
        betas,
        weight_decay: float,
        total_steps: int,
        dropout_top: float,
        micro_batches: int = 1,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model)
        rising_dropout(self.model, dropout_top)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Mean loss over the response tokens of the batch (doremi.data.loaders.ChatData's, "mask" on targets)."""
        part = micro_part(batch, int(batch.get("micro", 0)), int(self.hparams.micro_batches))
        loss = mean_loss(self.model.token_losses(part["input"], part["target"]), part["mask"])
        log_loss(self, "train/loss", loss, prog_bar=True)
        return loss

    def configure_model(self) -> None:
        shard(self.model, self.device_mesh)  # trainer.strategy=fsdp only (doremi.training.shard)

    def configure_optimizers(self):
        h = self.hparams
        opt = torch.optim.AdamW(self.model.parameters(), lr=h.lr, betas=tuple(h.betas), weight_decay=h.weight_decay)
        decay = torch.optim.lr_scheduler.LinearLR(opt, 1.0, h.min_lr_ratio, total_iters=max(h.total_steps, 1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


@torch.no_grad()
def loss_per_source(model: nn.Module, rows: list[dict], sources: list[str]) -> dict[str, float]:
    """Mean response-token loss (nats/token) of each source's held-out chats."""
    model.eval()
    device = next(model.parameters()).device
    sums, counts = dict.fromkeys(sources, 0.0), dict.fromkeys(sources, 0.0)
    for row in rows:
        total, count = masked_loss_sums(
            model, torch.from_numpy(row["tokens"])[None].to(device), torch.from_numpy(row["mask"])[None].to(device)
        )
        sums[row["source"]] += float(total)
        counts[row["source"]] += float(count)
    return {s: sums[s] / counts[s] for s in sources if counts[s] > 0}


@torch.no_grad()
def generate(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """Greedy answer to `prompt` in the chat format, up to the end-of-turn id."""
    model.eval()
    ids = tokenizer.encode_batch([ROLE_PREFIX["user"] + prompt])[0].tolist() + [tokenizer.eod_id]
    ids += tokenizer.encode_batch([ROLE_PREFIX["assistant"]])[0].tolist()
    start, device = len(ids), next(model.parameters()).device
    for _ in range(max_new_tokens):
        window = torch.tensor(ids[-model.cfg.seq_len :], device=device)[None]
        nxt = int(model(window)[0, -1].argmax())
        if nxt == tokenizer.eod_id:
            break
        ids.append(nxt)
    return tokenizer.decode(ids[start:])
