"""A planted effect of about 2 paired seed-SDs on real text, judged on a target: does the default compare find it?

The demo corpus without its `tests` domain is the training data; 96 of the held-out `tests` documents are the target
(`target.paths`). Moving weight from stratified toward `code` (the kind of text nearest to tests) lowers the target's
loss. Calibration: stratified and the code-leaning mixture on `--calibrate` seeds; the planted mixture moves the
share lambda of the way that makes the expected gain 2 paired seed-SDs (linear in lambda); its truth is measured on
`--truth` new seeds. Then `--compares` default compares (fresh seeds each) of stratified, natural, the planted
mixture and a decoy (2% moved between two other domains), judged on the target: the share recommending the planted
mixture, and the share recommending anything else but stratified.

    OMP_NUM_THREADS=1 python bench/bench_planted_target.py [--compares 10] [--first 0] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_planted import write_mixture  # noqa: E402
from bench_target import demo_files  # noqa: E402
from bench_variants import config  # noqa: E402

from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402

HELD = "tests"


def setting(root: Path) -> tuple[list[str], list[str]]:
    """(the data and target overrides, the training domains): the demo without HELD, 96 of HELD's documents the
    target."""
    files = demo_files(root / "src")
    target = root / "target.jsonl"
    target.write_text("\n".join(Path(files[HELD]).read_text().splitlines()[:96]) + "\n")
    rest = {k: v for k, v in files.items() if k != HELD}
    data = "data.domains={" + ",".join(f"{k}:'{v}'" for k, v in rest.items()) + "}"
    return [data, f"target.paths=[{target}]"], sorted(rest)


def target_losses(root: Path, name: str, extra: list[str], mixture: Path, seeds: list[int], steps: int) -> np.ndarray:
    """Each seed's target loss of `mixture` minus stratified's, from a one-stage compare of the two."""
    run_dir = root / name
    run_stage(config(run_dir, [*extra, f"trainer.max_steps={steps}", f"final.seeds=[{','.join(map(str, seeds))}]",
                               "compare.design=single", f"compare.methods=[stratified,{mixture}]", "stage=compare"]))  # fmt: skip
    rows = []
    for who in (mixture.stem, "stratified"):
        rows.append([json.loads((run_dir / "compare" / who / f"seed-{s}" / "result.json").read_text())["target"]["loss"] for s in seeds])  # fmt: skip
    return np.array(rows[0]) - np.array(rows[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compares", type=int, default=10)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--calibrate", type=int, default=5)
    parser.add_argument("--truth", type=int, default=6)
    parser.add_argument("--root", type=Path, default=Path("runs/bench-planted-target"))
    args = parser.parse_args()
    quiet_lightning()
    root = args.root
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    extra, domains = setting(root)
    stratified = dict.fromkeys(domains, 1 / len(domains))
    if not (root / "effect.json").is_file():
        lean = {d: (0.55 if d == "code" else 0.15) for d in domains}
        diffs = target_losses(root, "calibrate", extra, write_mixture(root / "lean.json", lean), list(range(args.calibrate)), args.steps)  # fmt: skip
        print(f"[planted] calibration: {diffs.mean():+.4f} (paired SD {diffs.std(ddof=1):.4f})", flush=True)
        share = float(min(1.0, 2 * diffs.std(ddof=1) / max(-diffs.mean(), 1e-9)))
        planted = {d: (1 - share) * stratified[d] + share * lean[d] for d in domains}
        planted_file = write_mixture(root / "planted.json", planted)
        truth = target_losses(root, "truth", extra, planted_file, list(range(100, 100 + args.truth)), args.steps)
        sigma = float(truth.std(ddof=1))
        effect = {"share": share, "weights": planted, "difference": float(truth.mean()), "sigma": sigma,
                  "in_sigma": float(-truth.mean() / sigma), "se": sigma / float(np.sqrt(len(truth))), "seeds": len(truth),
                  "calibration": {"difference": float(diffs.mean()), "sigma": float(diffs.std(ddof=1))}}  # fmt: skip
        (root / "effect.json").write_text(json.dumps(effect))
    effect = json.loads((root / "effect.json").read_text())
    print(f"[planted] planted {effect['share']:.2f} of the way: truth {effect['difference']:+.4f} (SE {effect['se']:.4f}) "
          f"over {effect['seeds']} seeds, paired SD {effect['sigma']:.4f}: {effect['in_sigma']:.2f} sigma", flush=True)  # fmt: skip
    others = [d for d in domains if d != "code"]
    decoy = write_mixture(root / "decoy.json", {**stratified, others[0]: stratified[others[0]] + 0.02, others[1]: stratified[others[1]] - 0.02})  # fmt: skip
    for i in range(args.first, args.first + args.compares):
        run_dir = root / f"compare-{i}"
        run_stage(config(run_dir, [*extra, f"trainer.max_steps={args.steps}", f"seed={1000 * (i + 1)}",
                                   f"compare.methods=[stratified,{root / 'planted.json'},{decoy}]", "stage=compare"]))  # fmt: skip
        board = json.loads((run_dir / "compare" / "leaderboard.json").read_text())
        print(f"[planted] compare {i}: {board['recommendation']['method']}", flush=True)
    chosen = [json.loads(b.read_text())["recommendation"]["method"] for b in sorted(root.glob("compare-*/compare/leaderboard.json"))]  # fmt: skip
    print(json.dumps({"effect": effect, "compares": len(chosen), "found": chosen.count("planted") / len(chosen),
                      "other": sum(c not in ("planted", "stratified") for c in chosen) / len(chosen),
                      "recommended": chosen, "minutes": (time.perf_counter() - started) / 60}), flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
