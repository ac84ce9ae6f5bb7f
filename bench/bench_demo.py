"""How long `python -m doremi` (the whole demo pipeline) takes, against bare compute.

The baseline, measured in the same run: a plain PyTorch loop training the same model
for the same total number of steps and batches as the pipeline's five trainings
(reference, proxy, three final models) — the floor any pipeline on this model pays.

    python bench/bench_demo.py            # prints wall time, the 5-minute goal, and the ratio
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import torch
from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.model.gpt import GPT, GPTConfig

GOAL_SECONDS = 300


def plain_training_seconds(cfg, trainings: int) -> float:
    model_cfg = GPTConfig(vocab_size=257, **{k: cfg.model[k] for k in ("seq_len", "n_layer", "n_head", "d_model")})
    torch.manual_seed(0)
    model = GPT(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    batch = torch.randint(0, 257, (int(cfg.trainer.batch_size), model_cfg.seq_len + 1))
    steps = int(cfg.trainer.max_steps) * trainings
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.token_losses(batch[:, :-1], batch[:, 1:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "doremi"], cwd=tmp, check=True, capture_output=True)
        pipeline = time.perf_counter() - start
    # proxy steps pay one extra forward pass of the reference; count five trainings as the floor
    baseline = plain_training_seconds(cfg, trainings=5)
    print(
        f"demo pipeline (python -m doremi): {pipeline:.1f} s  (goal < {GOAL_SECONDS} s: {'met' if pipeline < GOAL_SECONDS else 'MISSED'})"
    )
    print(f"plain PyTorch loop, same model, same 5 x {cfg.trainer.max_steps} steps: {baseline:.1f} s")
    print(f"ratio pipeline / plain training: {pipeline / baseline:.2f}x")


if __name__ == "__main__":
    main()
