"""What a base model says about SFT examples: response losses with and without the prompt (IFD), and each
example's representation (the mean of its last-layer states). Batched forward passes without gradients; every
call counts its forward passes, which the methods state as their cost."""

from __future__ import annotations

import numpy as np
import torch

from doremi.sft.examples import Example
from doremi.training.sft import encode_chat, masked_loss_sums


class Scorer:
    """A base model and its tokenizer, scoring examples in batches (on `device`)."""

    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device | str = "cpu", batch_size: int = 32):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.length = int(model.cfg.seq_len)
        self.device = device
        self.batch_size = batch_size
        self.forward_passes = 0  # examples run through the model, each counted once per pass

    def rows(self, chats: list[list[dict]]) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = [encode_chat(self.tokenizer, messages, self.length) for messages in chats]
        tokens = torch.from_numpy(np.stack([t for t, _ in encoded]))
        mask = torch.from_numpy(np.stack([m for _, m in encoded]))
        return tokens, mask

    @torch.no_grad()
    def response_loss(self, chats: list[list[dict]]) -> np.ndarray:
        """Mean response-token loss (nats/token) of each chat; NaN where no response token fits the window."""
        out = []
        for s in range(0, len(chats), self.batch_size):
            tokens, mask = self.rows(chats[s : s + self.batch_size])
            tokens, mask = tokens.to(self.device), mask.to(self.device)
            losses = self.model.token_losses(tokens[:, :-1], tokens[:, 1:]).double()
            keep = mask[:, 1:].double()
            sums, counts = (losses * keep).sum(dim=1), keep.sum(dim=1)
            out.append(torch.where(counts > 0, sums / counts.clamp_min(1), torch.nan).cpu().numpy())
            self.forward_passes += len(tokens)
        return np.concatenate(out) if out else np.zeros(0)

    @torch.no_grad()
    def loss_sums(self, chats: list[list[dict]]) -> tuple[np.ndarray, np.ndarray]:
        """(summed response nats, response tokens) of each chat: what the verdicts resample."""
        sums, counts = [], []
        for s in range(0, len(chats), self.batch_size):
            tokens, mask = self.rows(chats[s : s + self.batch_size])
            for row, keep in zip(tokens.to(self.device), mask.to(self.device)):
                total, count = masked_loss_sums(self.model, row[None], keep[None])
                sums.append(float(total))
                counts.append(float(count))
            self.forward_passes += len(tokens)
        return np.array(sums), np.array(counts)

    @torch.no_grad()
    def representations(self, chats: list[list[dict]]) -> np.ndarray:
        """(examples, width): the mean last-layer state over each chat's tokens (padding left out), unit length."""
        out = []
        for s in range(0, len(chats), self.batch_size):
            tokens, _ = self.rows(chats[s : s + self.batch_size])
            tokens = tokens[:, :-1].to(self.device)
            states = self.model.hidden(tokens).double()
            lengths = [self._length(row) for row in tokens]
            keep = torch.zeros(tokens.shape, dtype=torch.float64, device=self.device)
            for i, n in enumerate(lengths):
                keep[i, :n] = 1.0
            mean = (states * keep[..., None]).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp_min(1)
            out.append(torch.nn.functional.normalize(mean, dim=1).cpu().numpy())
            self.forward_passes += len(tokens)
        return np.concatenate(out) if out else np.zeros((0, 1))

    def _length(self, row: torch.Tensor) -> int:
        """Tokens before the padding (padding repeats the end-of-document id to the end of the row)."""
        eod = self.tokenizer.eod_id
        n = len(row)
        while n > 1 and int(row[n - 1]) == eod and int(row[n - 2]) == eod:
            n -= 1
        return n

    def gradient_features(self, chats: list[list[dict]], dim: int, seed: int) -> np.ndarray:
        """(examples, dim): each chat's gradient of its mean response-token loss over every trainable parameter,
        count-sketched to `dim` (each parameter added, with a random sign, to one of `dim` buckets fixed by `seed`: a
        random projection that keeps inner products in expectation) and made unit length; zero where no response
        token fits. One forward and one backward pass per chat (counted as two forward passes)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = sum(p.numel() for p in params)
        draw = torch.Generator().manual_seed(int(seed))
        bucket = torch.randint(0, int(dim), (total,), generator=draw)
        sign = torch.randint(0, 2, (total,), generator=draw).double() * 2 - 1
        out = np.zeros((len(chats), int(dim)))
        with torch.enable_grad():
            for s in range(0, len(chats), self.batch_size):
                tokens, mask = self.rows(chats[s : s + self.batch_size])
                for i, (row, keep) in enumerate(zip(tokens.to(self.device), mask.to(self.device))):
                    scored = keep[1:].double()
                    if scored.sum() == 0:
                        continue
                    losses = self.model.token_losses(row[None, :-1], row[None, 1:])[0].double()
                    grads = torch.autograd.grad((losses * scored).sum() / scored.sum(), params, allow_unused=True)
                    flat = torch.cat(
                        [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]
                    )
                    sketch = torch.zeros(int(dim), dtype=torch.float64).index_add_(
                        0, bucket, sign * flat.double().cpu()
                    )
                    out[s + i] = (sketch / sketch.norm().clamp_min(1e-12)).numpy()
                self.forward_passes += 2 * len(tokens)
        return out


def ifd(scorer: Scorer, examples: list[Example]) -> np.ndarray:
    """Instruction-following difficulty (Li et al., 2024, arXiv 2308.12032): the response's loss given the prompt
    over its loss alone (a ratio of perplexities' logs); near or above 1 the prompt does not help predict the
    response. Two forward passes per example."""
    conditioned = scorer.response_loss([ex.messages for ex in examples])
    alone = scorer.response_loss([[m for m in ex.messages if m["role"] == "assistant"] for ex in examples])
    return conditioned / np.maximum(alone, 1e-9)
