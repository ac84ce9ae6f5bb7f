"""How big must a swarm be before its fits rank mixtures? Held-out Spearman of regmix and mixing_law by size.

For each corpus (demo, system, packages; see bench_methods.py): prepare, then grow one swarm (`stage=swarm`,
the same draws: a larger swarm adds runs to a smaller one) to each size of `--grid` at its optimizer steps
per run, and learn `regmix` and `mixing_law` from it (`stage=learn swarm.train=false`). Printed per
corpus, steps and runs: each fit's k-fold held-out Spearman (swarm.folds) against swarm.min_spearman, and
the swarm's cost. The runs are spread over `--jobs` processes of one torch thread each (swarm.index shares),
as Hydra's launchers spread them.

    python bench/bench_swarm.py                          # every corpus, 24/48/96 runs of 60 steps, 24/48 of 150
    python bench/bench_swarm.py --corpus demo --grid "60:24,48"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_methods import bench_corpora  # noqa: E402
from bench_variants import config  # noqa: E402

from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402

FITS = ("regmix", "mixing_law")


def train_share(run_dir: Path, args: list[str]) -> None:
    """One worker: stage=swarm on its share of the runs."""
    quiet_lightning()
    run_stage(config(run_dir, args))


def measure(base: Path, data: list[str], steps: int, runs: int, jobs: int) -> dict:
    where = base / f"steps-{steps}"
    common = [*data, f"prepare.reuse={base / 'prepare'}", f"swarm.steps={steps}", f"swarm.runs={runs}"]
    shares = [list(range(runs))[j::jobs] for j in range(jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        work = [pool.submit(train_share, where, [*common, "stage=swarm", f"swarm.index=[{','.join(map(str, s))}]"])
                for s in shares]  # fmt: skip
        for done in work:
            done.result()
    seconds = time.perf_counter() - started
    out = {"steps": steps, "runs": runs, "swarm_seconds": seconds}
    for method in FITS:
        run_stage(config(where, [*common, "stage=learn", f"method={method}", "swarm.train=false", "overwrite=true"]))
        mixture = json.loads((where / "learn" / method / "mixture.json").read_text())
        fit = mixture["provenance"]["fit"]
        out[method] = {"spearman": fit["spearman"], "mae": fit["mae"], "flops": mixture["provenance"]["cost"]["flops"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=["demo", "system", "packages", "all"], default="all")
    parser.add_argument("--grid", default="60:24,48,96;150:24,48", help="steps:runs,runs;steps:runs,...")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    quiet_lightning()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in bench_corpora(root, args.corpus):
            run_stage(config(root / name, [*data, "stage=prepare"]))
            for part in args.grid.split(";"):
                steps, sizes = int(part.split(":")[0]), [int(x) for x in part.split(":")[1].split(",")]
                for runs in sizes:
                    row = {"corpus": name, **measure(root / name, data, steps, runs, args.jobs)}
                    rows.append(row)
                    print(f"[bench] {name} {steps} steps x {runs} runs: " + ", ".join(
                        f"{m} Spearman {row[m]['spearman']:.3f}" for m in FITS), flush=True)  # fmt: skip
    print("\nHeld-out Spearman of each fit (swarm.folds-fold over the swarm's runs; swarm.min_spearman: 0.5)\n")
    print("| corpus | steps per run | runs | regmix | mixing_law | swarm FLOPs | swarm time (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['corpus']} | {r['steps']} | {r['runs']} | {r['regmix']['spearman']:.3f} | "
            f"{r['mixing_law']['spearman']:.3f} | {r['regmix']['flops']:.3g} | {r['swarm_seconds']:.0f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
