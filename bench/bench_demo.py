"""How long `python -m doremi` (the whole demo pipeline) takes, against bare compute.

The baseline, measured in the same run: a plain PyTorch loop training the same model
for the same total number of steps and batches as the pipeline's trainings (reference,
proxy, and three mixtures x `final.seeds` final models) — the floor any pipeline on this
model pays. Also prints the held-out evaluation's share of the final stage's training
time and the demo's verdicts.

    python bench/bench_demo.py            # prints wall time, the 5-minute goal, and the ratio
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.training.model.gpt import GPT, GPTConfig

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
        done = subprocess.run([sys.executable, "-m", "doremi"], cwd=tmp, check=True, capture_output=True, text=True)
        pipeline = time.perf_counter() - start
        evaluation = json.loads((Path(tmp) / "runs" / "demo" / "final" / "eval.json").read_text())
    # proxy steps pay one extra forward pass of the reference; count them as one training each
    trainings = 2 + len(evaluation["mixtures"]) * len(evaluation["seeds"])
    baseline = plain_training_seconds(cfg, trainings=trainings)
    print(
        f"demo pipeline (python -m doremi): {pipeline:.1f} s  (goal < {GOAL_SECONDS} s: {'met' if pipeline < GOAL_SECONDS else 'MISSED'})"
    )
    print(f"plain PyTorch loop, same model, same {trainings} x {cfg.trainer.max_steps} steps: {baseline:.1f} s")
    print(f"ratio pipeline / plain training: {pipeline / baseline:.2f}x")
    spent = evaluation["time"]
    print(
        f"held-out evaluation: {spent['evaluation_seconds']:.1f} s of the final models' {spent['training_seconds']:.1f} s "
        f"({spent['evaluation_share']:.1%}); {sum(evaluation['heldout']['sequences'].values())} sequences per evaluation"
    )
    print("\n".join(line for line in done.stdout.splitlines() if line.startswith(("Verdicts", "- vs", "Note"))))


if __name__ == "__main__":
    main()
