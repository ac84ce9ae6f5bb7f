"""Your target, measured: on every bench corpus one kind of text is held out of training and becomes the target
(target.paths); on every bench pool one source is held out of the pool and becomes the target (sft.target.paths).
The compare then judges every method on the target alone, against stratified sampling (mixtures) or random
selection (SFT sets), with the default design. Prints one Markdown table per corpus and pool: each method's target
loss, its decision with the bound that made it, and what it cost.

The held-out domain or source is fixed by rule, never chosen by result: the first in sorted order.

Methods: mixtures: the target-aware ones (doge, regmix, mixing_law; stratified and natural join every compare);
SFT sets: less and nearest (random and stratified join every compare).

    OMP_NUM_THREADS=1 python bench/bench_target.py                       # every corpus and pool
    OMP_NUM_THREADS=1 python bench/bench_target.py --corpus demo --pool none
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_methods import build_packages_corpus  # noqa: E402
from bench_sft import BASE as SFT_BASE  # noqa: E402
from bench_sft import build_man_pool, build_packages_pool, write  # noqa: E402
from bench_variants import build_system_corpus, config  # noqa: E402

from doremi.data.demo import demo_corpus  # noqa: E402
from doremi.outputs.report.sft import cost_words  # noqa: E402
from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402

MIXTURE_METHODS = "doge,regmix,mixing_law"
SET_METHODS = "less,nearest"
TARGET_DOCUMENTS = 96  # the held-out domain's first documents (file order) make the target


def demo_files(out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, texts in demo_corpus().items():
        files[name] = str(write(out / f"{name}.jsonl", [{"text": t} for t in texts]))
    return files


def corpora(root: Path, which: str):
    for name, build in (("demo", demo_files), ("system", build_system_corpus), ("packages", build_packages_corpus)):
        if which in (name, "all"):
            (root / "src" / name).mkdir(parents=True, exist_ok=True)
            yield name, build(root / "src" / name)


def held_out_domain(name: str, files: dict[str, str], root: Path) -> tuple[str, list[str], Path]:
    """(the held-out domain, the data override of the others, the target file of its first documents)."""
    held = sorted(files)[0]
    lines = Path(files[held]).read_text().splitlines()[:TARGET_DOCUMENTS]
    target = root / "targets" / f"{name}-{held}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    rest = {k: v for k, v in files.items() if k != held}
    return held, ["data.domains={" + ",".join(f"{k}:'{v}'" for k, v in rest.items()) + "}"], target


def bench_corpus(name: str, files: dict[str, str], root: Path) -> dict:
    started = time.perf_counter()
    held, data, target = held_out_domain(name, files, root)
    base = root / name
    extra = [*data, f"target.paths=[{target}]", f"compare.methods=[{MIXTURE_METHODS}]"]
    run_stage(config(base, [*extra, "stage=compare"]))
    board = json.loads((base / "compare" / "leaderboard.json").read_text())
    board["corpus"], board["held_out"], board["seconds"] = name, held, time.perf_counter() - started
    print(f"[bench] {name} (target: {held}): {board['seconds']:.0f} s; {board['recommendation']['line']}", flush=True)
    return board


def pools(root: Path, which: str):
    for name, build in (("demo", None), ("man", build_man_pool), ("packages", build_packages_pool)):
        if which in (name, "all"):
            yield name, build


def held_out_source(name: str, build, root: Path) -> tuple[str, Path, Path]:
    """(the held-out source, the pool without it, the target file of its examples)."""
    from doremi.sft.demo import demo_pool

    if build is None:
        records = [ex.to_record() for ex in demo_pool()]
    else:
        records = [json.loads(x) for x in build(root / "src" / name).read_text().splitlines()]
    held = sorted({r["source"] for r in records})[0]
    mine = [r for r in records if r["source"] == held][:TARGET_DOCUMENTS]
    rest = [r for r in records if r["source"] != held]
    return (
        held,
        write(root / "pools" / f"{name}.jsonl", rest),
        write(root / "targets" / f"sft-{name}-{held}.jsonl", mine),
    )


def bench_pool(name: str, build, root: Path, args) -> dict:
    started = time.perf_counter()
    held, pool, target = held_out_source(name, build, root)
    sft = [
        f"sft.budget={args.budget}", f"sft.epochs={args.epochs}", "sft.compare.seeds=3", "sft.dev_size=48",
        "sft.filters.min_chars=300", f"sft.paths=[{pool}]", f"sft.target.paths=[{target}]",
        f"sft.compare.methods=[{SET_METHODS}]", "overwrite=true", "stage=sft_compare",
    ]  # fmt: skip
    run_stage(config(root / "run", [*SFT_BASE, *sft]))
    board = json.loads((root / "run" / "sft_compare" / "leaderboard.json").read_text())
    board["pool"], board["held_out"], board["seconds"] = name, held, time.perf_counter() - started
    print(
        f"[bench] pool {name} (target: {held}): {board['seconds']:.0f} s; {board['recommendation']['line']}", flush=True
    )
    return board


def decided(row: dict) -> str:
    made = row.get("decision", {})
    if "bound" not in made:
        return "screened out" if row.get("stage") == "screened out" else "(control)" if not row.get("stage") else ""
    return f"{'**better**' if made['better'] else 'not decided'} (<= {made['bound']:+.4f})"


def table(board: dict, control: str) -> str:
    what = board.get("corpus") or board.get("pool")
    lines = [
        f"**{what}**, target: the held-out `{board['held_out']}` ({board['seconds'] / 60:.1f} min)",
        "",
        f"| method | judged (seeds) | target loss | vs {control} on the target | decision (bound) | cost |",
        "|---|---|---|---|---|---|",
    ]
    for row in board["rows"]:
        vs = row["vs"].get(control, {}).get("target")
        loss = row.get("target_loss", row.get("average"))
        cost = cost_words(row["cost"]) if "forward_passes" in row["cost"] else f"{row['cost']['flops']:.3g} FLOPs"
        cells = [
            row["method"], f"{row.get('stage', '')} ({len(row['seeds'])})", f"{loss:.4f}",
            f"{vs['difference']:+.4f} [{vs['interval'][0]:+.4f}, {vs['interval'][1]:+.4f}] {vs['verdict']}" if vs else "(control)",
            decided(row), cost,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", board["recommendation"]["line"], ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["demo", "system", "packages", "all", "none"], default="all")
    parser.add_argument("--pool", choices=["demo", "man", "packages", "all", "none"], default="all")
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path("runs/bench-target"))
    parser.add_argument("--out", type=Path, default=None, help="also write the leaderboards as JSON here")
    args = parser.parse_args()
    quiet_lightning()
    boards = []
    for name, files in corpora(args.root, args.corpus):
        boards.append(bench_corpus(name, files, args.root))
        print(table(boards[-1], "stratified"), flush=True)
    if args.pool != "none":
        run_stage(config(args.root / "run", [*SFT_BASE, "stage=all"]))  # the base every SFT set fine-tunes
    for name, build in pools(args.root, args.pool):
        boards.append(bench_pool(name, build, args.root, args))
        print(table(boards[-1], "random"), flush=True)
    if args.out:
        args.out.write_text(json.dumps(boards))


if __name__ == "__main__":
    sys.exit(main())
