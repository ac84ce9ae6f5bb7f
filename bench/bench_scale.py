"""Does the small-scale decision hold at a larger size? stage=compare's scale check on the runs of bench_methods.

For each corpus of a `bench_methods.py --resolve --root DIR` run, the same compare again (its trials and learned
mixtures reused) with compare.check_scale=<preset>: stratified, natural and the --top best methods retrained at
that model size with the compare's first --seeds seeds. Prints, per corpus, each method's target loss at both
sizes, the share of pairs decided alike (DataDecide's decision accuracy), the rank correlation, the best method at
the larger size and whether the recommendation holds.

    python bench/bench_methods.py --resolve --max-seeds 8 --root /tmp/bm   # first
    python bench/bench_scale.py --root /tmp/bm --preset mini --top 2 --seeds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_methods import METHODS, bench_corpora  # noqa: E402
from bench_variants import config  # noqa: E402

from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402


def check(name: str, data: list[str], root: Path, extra: list[str]) -> dict:
    base = root / name
    done = base / "compare" / "leaderboard.json"
    if not done.is_file():
        raise SystemExit(f"{done} not found: run bench_methods.py --resolve --root {root} first")
    kept = base / "compare-without-scale"
    if not kept.exists():
        (base / "compare").rename(kept)  # the compare runs again: its trials and learned mixtures are reused
    started = time.perf_counter()
    run_stage(config(base, [*data, *extra, "stage=compare", "replace_published=true"]))
    board = json.loads(done.read_text())
    board["corpus"] = name
    board["scale_check"]["seconds"] = time.perf_counter() - started
    if "at_larger" not in board["scale_check"]:  # a check run before the verdicts at the larger size: judge its runs
        board["scale_check"]["at_larger"] = judged_again(base, board, config(base, [*data, *extra]))
    return board


def judged_again(base: Path, board: dict, cfg) -> dict:
    """The larger runs of a scale check kept under compare/scale/, judged against stratified as stage=compare judges
    them now (doremi.stages.compare.verdicts_at_scale)."""
    from doremi.methods.common import target_of
    from doremi.pipeline.common import heldout_for, load_prepared
    from doremi.stats.decide import scale_warning, verdicts_at_scale

    scale = board["scale_check"]
    data = load_prepared(cfg)
    results = {
        m: {
            s: json.loads((base / "compare" / "scale" / m / f"seed-{s}" / "result.json").read_text())
            for s in scale["seeds"]
        }
        for m in scale["methods"]
    }
    kind, indices = target_of(cfg, data.domains)
    judged = verdicts_at_scale(
        results, scale["seeds"], heldout_for(cfg, data), data.domains, kind, indices, int(cfg.seed)
    )
    scale["warning"] = scale_warning(scale["recommended"], judged, scale["preset"])
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a bench_methods.py --resolve --root folder")
    parser.add_argument("--corpus", choices=["demo", "system", "packages", "all"], default="all")
    parser.add_argument("--preset", default="mini", help="the larger model preset (doremi/conf/model/<preset>.yaml)")
    parser.add_argument("--top", type=int, default=2, help="the best methods retrained beside stratified and natural")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per mixture at the larger size")
    # bench_methods' settings, which the compare must repeat to reuse its trials
    parser.add_argument("--pilot-seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--resolution", type=float, default=0.02)
    parser.add_argument("--max-seeds", type=int, default=8)
    args = parser.parse_args()
    quiet_lightning()
    extra = [
        f"trainer.max_steps={args.steps}", f"final.seeds={args.pilot_seeds}", f"compare.methods=[{args.methods}]",
        "final.average=ema", f"compare.resolution={args.resolution}", f"compare.pilot_seeds={args.pilot_seeds}",
        f"compare.max_seeds={args.max_seeds}", f"compare.check_scale={args.preset}", f"compare.check_top={args.top}",
        f"compare.check_seeds={args.seeds}",
    ]  # fmt: skip
    boards = [check(name, data, args.root, extra) for name, data in bench_corpora(args.root, args.corpus)]
    print(f"\nmodel {args.preset} against the compare's model, seeds {args.seeds}; target: each method's loss")
    print("| corpus | method | small | large | rank small | rank large |")
    print("|---|---|---|---|---|---|")
    for board in boards:
        scale = board["scale_check"]
        small, large = scale["small"], scale["large"]
        rank_small = {m: i + 1 for i, m in enumerate(sorted(small, key=small.get))}
        rank_large = {m: i + 1 for i, m in enumerate(sorted(large, key=large.get))}
        for m in scale["methods"]:
            print(f"| {board['corpus']} | {m} | {small[m]:.4f} | {large[m]:.4f} | {rank_small[m]} | {rank_large[m]} |")
    print()
    for board in boards:
        scale = board["scale_check"]
        print(
            f"- {board['corpus']}: {scale['decision_agreement']:.0%} of pairs decided alike, Spearman "
            f"{scale['spearman']:.3f} (point estimates); recommended {scale['recommended']}, best at {args.preset}: "
            f"{scale['best_large']}{'; ' + scale['warning'] if scale.get('warning') else ''} ({scale['seconds']:.0f} s)"
        )
        for m, v in scale["at_larger"].items():
            low, high = v["interval"]
            print(
                f"  - at {args.preset}, {m} vs stratified: {v['difference']:+.4f} [{low:+.4f}, {high:+.4f}] {v['verdict']}"
            )


if __name__ == "__main__":
    main()
