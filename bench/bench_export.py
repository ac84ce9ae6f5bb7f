"""How long `stage=export` takes, against the start-up it cannot avoid.

Times whole commands (fresh interpreters), interleaved so that machine noise hits each
alike, and reports medians and ratios against baselines measured in the same run:

- `python -c pass`: the interpreter alone;
- `python -c "import hydra"`: the CLI's own framework, which every stage pays;
- `python -c "import torch, pytorch_lightning, datasets"`: the training stack that
  exporting no longer imports (it did before: about 12 s on 2 busy cores);
- `python -m doremi stage=export ... format=megatron` and `format=all` on the shipped Pile
  mixture.

    python bench/bench_export.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PILE = ROOT / "mixtures" / "pile_doremi_280m.json"


def seconds(command: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = Path(tmp) / "paths.json"
        names = json.loads(PILE.read_text())["weights"]
        paths.write_text(json.dumps({d: f"/data/{d.replace(' ', '_')}_text_document" for d in names}))
        export = [sys.executable, "-m", "doremi", "stage=export", f"mixture={PILE}", f"run_dir={tmp}"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import hydra": [sys.executable, "-c", "import hydra"],
            "import torch, lightning, datasets": [
                sys.executable,
                "-c",
                "import torch, pytorch_lightning, datasets",
            ],
            "stage=export format=megatron": [*export, "format=megatron", f"out={tmp}/m.txt", f"export.paths={paths}"],
            "stage=export format=all": [*export, "format=all", f"out={tmp}/all", f"export.paths={paths}"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(seconds(command, tmp))
    base = statistics.median(times["python -c pass"])
    stack = statistics.median(times["import torch, lightning, datasets"])
    print(f"{'command':36s} {'median s':>9s} {'x pass':>8s} {'x training stack':>17s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:36s} {median:9.3f} {median / base:8.1f} {median / stack:17.2f}")


if __name__ == "__main__":
    main()
