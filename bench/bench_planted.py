"""A planted effect of the size mixtures make, on real text: does the default compare find a mixture truly better
than stratified by about 2 paired seed-SDs, and how often does it recommend one that is not?

On the demo corpus (real text: the standard library's code, tests, docstrings, reference topics and C headers),
with the demo's model and `--steps` steps a run:

1. Calibration: stratified and a "lean" mixture (the weights of the domains with the highest held-out loss doubled,
   then renormalized; which way helps is measured, not assumed: the mixture moved the other way is tried if the first
   is not lower; or `--direction`, a mixture file such as a learned DoReMi mixture) train on `--calibrate` seeds. The
   planted mixture is stratified moved toward the better one by the share lambda (at most 2: past it, each weight at
   least 0.02) that makes its expected gain 2 paired seed-SDs (linear in lambda); its truth is then measured on
   `--truth` further seeds (the mean paired difference and its SD: the planted effect in units of sigma, stated).
2. Compares: `--compares` default compares (seeds 1000 i, 1000 i + 1, ...; the screen's and the confirmation's
   seeds fresh each time) of stratified, natural, the planted mixture and two decoys (stratified with 2% moved between
   two domains of similar loss, each way: differences far below 1 sigma), judged on the average held-out loss.
   Reported: the share recommending the planted mixture (power at the measured effect) and the share recommending a
   decoy or natural (false recommendations, if their truths are about 0).

    OMP_NUM_THREADS=1 python bench/bench_planted.py [--compares 20] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_variants import config  # noqa: E402

from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402

DOMAINS = ["c_headers", "code", "docs", "docstrings", "tests"]


def write_mixture(path: Path, weights: dict[str, float]) -> Path:
    total = sum(weights.values())
    path.write_text(json.dumps({"weights": {d: w / total for d, w in weights.items()}}))
    return path


def averages(root: Path, name: str, weights: Path, seeds: list[int], steps: int) -> np.ndarray:
    """Each seed's average held-out loss of `weights` minus stratified's (stage=final, the same seeds for both)."""
    run_dir = root / name
    run_stage(config(run_dir, ["stage=prepare"]))
    extra = [f"trainer.max_steps={steps}", f"final.mixture={weights}", f"final.seeds=[{','.join(map(str, seeds))}]",
             "final.baselines=[stratified]", "stage=final"]  # fmt: skip
    run_stage(config(run_dir, extra))
    out = []
    for mixture in (weights.stem, "stratified"):
        rows = []
        for s in seeds:
            result = json.loads((run_dir / "final" / mixture / f"seed-{s}" / "result.json").read_text())
            rows.append(np.mean(list(result["history"][-1]["losses"].values())))
        out.append(rows)
    return np.array(out[0]) - np.array(out[1])


def calibrate(root: Path, steps: int, n_calibrate: int, n_truth: int, direction: Path | None = None) -> dict | None:
    """The planted mixture (root/planted.json) and its measured truth, or None when no direction helps. `direction`:
    a mixture file tried instead of the two fixed directions (e.g. a learned DoReMi mixture)."""
    stratified = dict.fromkeys(DOMAINS, 0.2)
    lean = {**stratified, "c_headers": 0.4, "docstrings": 0.4}  # the two domains with the highest loss on the demo
    away = {**stratified, "code": 0.4, "tests": 0.4}
    tried = [("lean", lean), ("away", away)]
    if direction is not None:
        tried = [("given", json.loads(direction.read_text())["weights"])]
    best = None
    for name, weights in tried:
        mixture = write_mixture(root / f"{name}.json", weights)
        diffs = averages(root, f"calibrate-{name}", mixture, list(range(n_calibrate)), steps)
        print(f"[planted] calibration {name}: {diffs.mean():+.4f} (paired SD {diffs.std(ddof=1):.4f})", flush=True)
        if diffs.mean() < 0 and (best is None or diffs.mean() < best[1].mean()):
            best = (weights, diffs)
    if best is None:
        return None
    weights, diffs = best
    share = float(min(2.0, 2 * diffs.std(ddof=1) / -diffs.mean()))  # past the direction's end if need be
    planted = {d: max((1 - share) * stratified[d] + share * weights[d], 0.02) for d in DOMAINS}
    planted = {d: w / sum(planted.values()) for d, w in planted.items()}
    planted_file = write_mixture(root / "planted.json", planted)
    truth = averages(root, "truth", planted_file, list(range(100, 100 + n_truth)), steps)
    sigma = float(truth.std(ddof=1))
    effect = {"share": share, "weights": planted, "difference": float(truth.mean()), "sigma": sigma,
              "in_sigma": float(-truth.mean() / sigma), "se": sigma / float(np.sqrt(len(truth))), "seeds": len(truth)}  # fmt: skip
    (root / "effect.json").write_text(json.dumps(effect))
    return effect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compares", type=int, default=20)
    parser.add_argument("--first", type=int, default=0, help="the first compare's number (parallel jobs: 0, 10, ...)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--calibrate", type=int, default=6)
    parser.add_argument("--truth", type=int, default=8)
    parser.add_argument("--root", type=Path, default=Path("runs/bench-planted"))
    parser.add_argument("--direction", type=Path, default=None, help="a mixture file: the direction to plant along")
    args = parser.parse_args()
    quiet_lightning()
    root = args.root
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if (root / "effect.json").is_file():
        effect = json.loads((root / "effect.json").read_text())
    else:
        effect = calibrate(root, args.steps, args.calibrate, args.truth, args.direction)
    if effect is None:
        print("[planted] neither direction lowers the average loss at this scale: no effect to plant", flush=True)
        return
    print(f"[planted] planted: {effect['share']:.2f} of the way; truth over {effect['seeds']} seeds "
          f"{effect['difference']:+.4f} (SE {effect['se']:.4f}), paired SD {effect['sigma']:.4f}: "
          f"{effect['in_sigma']:.2f} sigma", flush=True)  # fmt: skip
    stratified = dict.fromkeys(DOMAINS, 0.2)
    decoys = [write_mixture(root / "decoy_up.json", {**stratified, "code": 0.22, "tests": 0.18}),
              write_mixture(root / "decoy_down.json", {**stratified, "code": 0.18, "tests": 0.22})]  # fmt: skip
    for i in range(args.first, args.first + args.compares):
        run_dir = root / f"compare-{i}"
        extra = [f"trainer.max_steps={args.steps}", f"seed={1000 * (i + 1)}",
                 f"compare.methods=[stratified,{root / 'planted.json'},{decoys[0]},{decoys[1]}]", "stage=compare"]  # fmt: skip
        run_stage(config(run_dir, extra))
        board = json.loads((run_dir / "compare" / "leaderboard.json").read_text())
        print(f"[planted] compare {i}: {board['recommendation']['method']}", flush=True)
    chosen = [
        json.loads(b.read_text())["recommendation"]["method"]
        for b in sorted(root.glob("compare-*/compare/leaderboard.json"))
    ]
    print(json.dumps({"effect": effect, "compares": len(chosen), "found": chosen.count("planted") / len(chosen),
                      "other": sum(c not in ("planted", "stratified") for c in chosen) / len(chosen),
                      "recommended": chosen, "minutes": (time.perf_counter() - started) / 60}), flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
