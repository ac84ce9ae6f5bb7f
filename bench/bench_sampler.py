"""The mixture sampler's speed: against `datasets.interleave_datasets`, and inside a training step.

Same data for both samplers: k domains of packed chunks (random token ids), the same
weights. Measured in one run (these machines are noisy, so only ratios are reported):

1. sequences per second drawn by `MixtureBatches` (indices and the token rows, as
   tensors) vs iterating `interleave_datasets(probabilities=weights)` over the same
   chunks (numpy format), and how far each is from the requested counts;
2. the sampler's share of a training step of the demo model (tiny) on the same batch.

    python bench/bench_sampler.py [--domains 8] [--chunks 20000] [--batch 64] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from doremi.data.sampler import MixtureBatches, MixtureSampler
from doremi.training.model.gpt import GPT, GPTConfig


def rate(fn, seconds: float) -> float:
    """Calls of fn per second over about `seconds`."""
    fn()  # warm up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=20000, help="chunks per domain")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    import datasets

    rng = np.random.default_rng(0)
    k, n, width = args.domains, args.chunks, args.seq_len + 1
    weights = rng.dirichlet(np.ones(k)).tolist()
    chunks = [rng.integers(0, 256, size=(n, width), dtype=np.uint16) for _ in range(k)]

    sampler = MixtureSampler([n] * k, weights, args.batch, seed=0)
    ours = MixtureBatches(chunks, sampler)
    step = iter(range(10**9))
    ours_rate = rate(lambda: ours.make_batch(next(step), 0, 1), args.seconds) * args.batch

    sets = [
        datasets.Dataset.from_dict({"tokens": c.tolist(), "domain": [i] * n}).with_format("numpy")
        for i, c in enumerate(chunks)
    ]
    mixed = datasets.interleave_datasets(sets, probabilities=weights, seed=0, stopping_strategy="all_exhausted")
    it = iter(mixed)
    hf_rate = rate(lambda: [next(it) for _ in range(args.batch)], args.seconds) * args.batch

    # deviation from the requested counts after 200 batches
    draws = 200 * args.batch
    ours_counts = np.bincount(np.concatenate([sampler.batch(s)[0] for s in range(200)]), minlength=k)
    hf_counts = np.bincount(np.array(mixed.select(range(draws))["domain"]), minlength=k)
    want = np.array(weights) * draws

    cfg = GPTConfig(vocab_size=257, seq_len=args.seq_len, n_layer=2, n_head=4, d_model=128)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = ours.make_batch(0, 0, 1)

    def train_step():
        loss = model.token_losses(batch["input"], batch["target"]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    seconds = max(args.seconds / 2, 1.0)
    step_time = 1 / rate(train_step, seconds)
    sample_time = 1 / rate(lambda: ours.make_batch(next(step), 0, 1), seconds)

    print(f"{k} domains x {n} chunks of {width} tokens, batch {args.batch}")
    print(f"doremi MixtureBatches:      {ours_rate:12,.0f} sequences/s")
    print(f"datasets.interleave_datasets:{hf_rate:11,.0f} sequences/s")
    print(f"ratio (doremi / datasets):  {ours_rate / hf_rate:12.1f}x")
    print(
        f"largest count error after {draws} draws: doremi {np.abs(ours_counts - want).max():.2f}, "
        f"datasets {np.abs(hf_counts - want).max():.1f} sequences"
    )
    print(
        f"training step (tiny GPT, CPU): {step_time * 1e3:.1f} ms; sampler: {sample_time * 1e3:.2f} ms "
        f"= {sample_time / (step_time + sample_time):.1%} of a step"
    )


if __name__ == "__main__":
    main()
