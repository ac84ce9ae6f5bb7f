"""Which mixture should I train on? Every mixture method on three real corpora, judged by stage=compare.

For each corpus: prepare, then `stage=compare` with every method (learned at the run's settings,
trained at the final stage's settings with the same seeds, judged against stratified and natural
sampling with 95% intervals). Prints one Markdown table: each method's average and worst-domain
loss difference from stratified and natural (win / tie / loss as they came out), its cost, and
each corpus' recommendation.

Corpora (nothing downloaded, nothing tuned for):
  demo     the embedded corpus: the running interpreter's standard library (5 domains of similar size)
  system   text this machine ships: English, German and French man pages, Perl modules, JavaScript
           from node_modules, Debian copyright files (6 domains, sizes made similar)
  packages the files of the installed Python packages by kind (Python source, C/C++ headers, type
           stubs, Markdown, reStructuredText, YAML, JSON, plain text), at their natural sizes, which
           differ by far more than 30x: natural and stratified differ and repetition matters

    python bench/bench_methods.py                           # every corpus, 3 seeds, the default methods
    python bench/bench_methods.py --corpus packages --seeds 5 --methods doremi,stratified,natural
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_variants import build_system_corpus, config  # noqa: E402

from doremi import methods  # noqa: E402
from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402
from doremi.stats.family import stein_seeds  # noqa: E402

METHODS = ",".join(m for m in methods.known() if "+" not in m)  # every registered method; variants: bench_variants
PACKAGE_KINDS = {
    "python": "*.py",
    "headers": "*.h",
    "stubs": "*.pyi",
    "markdown": "*.md",
    "rest": "*.rst",
    "yaml": "*.yaml",
    "json": "*.json",
    "text": "*.txt",
}


def build_packages_corpus(out: Path, cap: int = 3_000_000) -> dict[str, str]:
    """One JSONL file per kind of file under the installed packages, whole files in sorted order, each kind
    capped at `cap` characters: the big kinds hit the cap, the small ones keep their natural size."""
    import numpy

    root = Path(numpy.__file__).resolve().parent.parent  # site-packages
    files = {}
    for name, pattern in PACKAGE_KINDS.items():
        records, total = [], 0
        for path in sorted(root.rglob(pattern)):
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if len(text) < 200:
                continue
            records.append({"text": text[:20_000]})
            total += len(records[-1]["text"])
            if total >= cap:
                break
        if records:
            files[name] = str(out / f"{name}.jsonl")
            Path(files[name]).write_text("".join(json.dumps(r) + "\n" for r in records))
    return files


def bench_corpora(root: Path, which: str):
    """(name, data overrides) of each bench corpus asked for (`which`: a name or "all"), built under root/src."""
    for name, build in (("demo", None), ("system", build_system_corpus), ("packages", build_packages_corpus)):
        if which not in (name, "all"):
            continue
        if build is None:  # the embedded corpus: no overrides
            yield name, []
            continue
        (root / "src" / name).mkdir(parents=True, exist_ok=True)
        files = build(root / "src" / name)
        yield name, ["data.domains={" + ",".join(f"{k}:'{v}'" for k, v in files.items()) + "}"]


def bench_corpus(name: str, data: list[str], root: Path, extra: list[str], resolve: list[str]) -> dict:
    started = time.perf_counter()
    base = root / name
    run_stage(config(base, [*data, *extra, "stage=prepare"]))
    manifest = json.loads((base / "prepare" / "manifest.json").read_text())
    tokens = {d: v["tokens"] for d, v in manifest["splits"]["train"].items()}
    run_stage(config(base, [*data, *extra, "stage=compare"]))
    board = json.loads((base / "compare" / "leaderboard.json").read_text())
    board["corpus"], board["train_tokens"] = name, tokens
    board["reducers"] = reducers(base, board)
    board["seconds"] = time.perf_counter() - started
    print(f"[bench] {name}: {board['seconds']:.0f} s; {board['recommendation']['line']}", flush=True)
    if resolve:  # the same compare asked for a resolution: the pilot is the run above (its trials are reused)
        (base / "compare").rename(base / "compare-pilot")  # the learned mixtures stay, and are reused
        run_stage(config(base, [*data, *extra, *resolve, "stage=compare", "replace_published=true"]))
        board["resolved"] = json.loads((base / "compare" / "leaderboard.json").read_text())
        board["resolved"]["seconds"] = time.perf_counter() - started - board["seconds"]
        print(f"[bench] {name} at the resolution: {board['resolved']['recommendation']['line']}", flush=True)
    return board


def reducers(base: Path, board: dict) -> dict:
    """What each scored model does to the noise, from the same trials: the paired seed sd of every trained method
    against stratified (average loss at the last evaluation) with the raw weights, their EMA and their LAWA."""
    folder = base / "compare"
    out = {}
    for scored in ("raw", "ema", "lawa"):
        sds = []
        for row in board["rows"]:
            if row["method"] == "stratified" or row.get("same_models_as") or len(row["seeds"]) < 2:
                continue
            diffs = []
            for s in row["seeds"]:
                last = [
                    json.loads((folder / m / f"seed-{s}" / "result.json").read_text())["history"][-1]
                    for m in (row["method"], "stratified")
                ]
                picked = [x if scored == "ema" else x["alternatives"][scored] for x in last]
                diffs.append(np.mean(list(picked[0]["losses"].values())) - np.mean(list(picked[1]["losses"].values())))
            sds.append(float(np.std(diffs, ddof=1)))
        out[scored] = {"median_paired_sd": float(np.median(sds)), "paired_sds": sds}
    return out


def cell(judged: dict | None) -> str:
    if not judged:
        return "(itself)"
    low, high = judged["interval"]
    mark = {"better": "win", "worse": "loss", "no detectable difference": "tie"}[judged["verdict"]]
    return f"{judged['difference']:+.4f} [{low:+.4f}, {high:+.4f}] {mark}"


def decided(row: dict) -> str:
    """The decision against stratified with the one-sided bound that made it."""
    made = row.get("decision", {})
    if "bound" not in made:
        return "screened out" if row.get("stage") == "screened out" else ""
    return f"{'**better**' if made['better'] else 'not decided'} (<= {made['bound']:+.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=["demo", "system", "packages", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--out", type=Path, default=None, help="also write the leaderboards as JSON here")
    parser.add_argument("--resolution", type=float, default=0.02, help="the seeds Stein's rule would ask for it")
    parser.add_argument("--resolve", action="store_true", help="then run the compare at --resolution (Stein's rule)")
    parser.add_argument("--max-seeds", type=int, default=16, help="compare.max_seeds of the --resolve run")
    parser.add_argument("--root", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    quiet_lightning()
    # scored with EMA so that the raw weights and LAWA are scored too, from the same runs (the reducers' table)
    extra = [f"trainer.max_steps={args.steps}", f"final.seeds={args.seeds}", f"compare.methods=[{args.methods}]",
             "final.average=ema"]  # fmt: skip
    resolve = (
        [f"compare.resolution={args.resolution}", f"compare.pilot_seeds={args.seeds}", f"compare.max_seeds={args.max_seeds}"]
        if args.resolve
        else []
    )  # fmt: skip
    boards = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        for name, data in bench_corpora(root, args.corpus):
            boards.append(bench_corpus(name, data, root, extra, resolve))
    print(f"\n{args.seeds} seeds, {args.steps} steps per stage; average / worst-domain held-out loss difference")
    print("(nats/token), method minus baseline, 95% intervals; win = below 0, loss = above 0, tie = covers 0\n")
    print(
        "| corpus | method | judged (seeds) | average vs stratified | decision (bound) | average vs natural | worst vs stratified | cost (share of a final run) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for board in boards:
        for row in board["rows"]:
            vs = row["vs"]
            print(
                f"| {board['corpus']} | {row['method']} | {row.get('stage', '')} ({len(row['seeds'])}) | "
                f"{cell(vs.get('stratified', {}).get('average'))} | {decided(row)} | "
                f"{cell(vs.get('natural', {}).get('average'))} | {cell(vs.get('stratified', {}).get('worst'))} | "
                f"{row['cost']['share_of_final_run']:.1%} |"
            )
    print()
    for board in boards:
        sizes = board["train_tokens"]
        print(
            f"- {board['corpus']}: {len(sizes)} domains, largest/smallest {max(sizes.values()) / min(sizes.values()):.0f}x; "
            f"{board['recommendation']['line']}"
        )
    for board in boards:
        for row in board["rows"]:
            notes = row.get("notes", {})
            if "fit" in notes:
                fit = notes["fit"]
                print(
                    f"- {board['corpus']} {row['method']}: fit on held-out swarm runs: Spearman {fit['spearman']:.3f}, "
                    f"mean absolute error {fit['mae']:.4f} nats/token ({fit['runs']} runs)"
                )
            if "online_share_of_training_time" in notes:
                print(
                    f"- {board['corpus']} {row['method']}: {notes['online_share_of_training_time']:.2%} of training time in its updates"
                )
    print()
    for board in boards:
        noise, pairs = board["noise"], board["noise"]["pairs"]
        family = len(pairs)
        need = {
            n: stein_seeds(
                p["moderated_sd"],
                p["df"],
                args.resolution,
                len(board["seeds"]),
                family=family,
                docs_se=p["se_documents"],
                docs_df=p["df_documents"],
                most=10_000,
            )  # fmt: skip
            for n, p in pairs.items()
        }
        finite = [v for v in need.values() if v is not None]
        extra = (
            sum(max(v - len(board["seeds"]), 0) for v in finite)
            + max(finite, default=len(board["seeds"]))
            - len(board["seeds"])
        )
        print(
            f"- {board['corpus']} noise: stratified's seed sd {noise['seed_sd']['stratified']:.4f}; paired sd vs "
            f"stratified {min(p['paired_sd'] for p in pairs.values()):.4f}-{max(p['paired_sd'] for p in pairs.values()):.4f}; "
            f"median half-width ±{noise['median_detects']:.4f} ({len(board['seeds'])} seeds, {family} comparisons held "
            f"together); compare.resolution={args.resolution} would ask for "
            + ", ".join(f"{n} {v if v is not None else 'more held-out documents'}" for n, v in need.items())
            + f" seeds: about {extra} more final runs, {extra * board['budget']['flops_per_run']:.3g} FLOPs"
        )
    resolved = [b for b in boards if "resolved" in b]
    if resolved:
        print(
            f"\nAt compare.resolution={args.resolution} (pilot: the {args.seeds} seeds above; compare.max_seeds={args.max_seeds})\n"
        )
        print("| corpus | method | seeds | average vs stratified | average vs natural | worst vs stratified |")
        print("|---|---|---|---|---|---|")
        for board in resolved:
            seeds = board["resolved"]["resolution"]["seeds"]
            for row in board["resolved"]["rows"]:
                vs = row["vs"]
                print(
                    f"| {board['corpus']} | {row['method']} | {seeds.get(row['method'], len(row['seeds']))} | "
                    f"{cell(vs.get('stratified', {}).get('average'))} | {cell(vs.get('natural', {}).get('average'))} | "
                    f"{cell(vs.get('stratified', {}).get('worst'))} |"
                )
        for board in resolved:
            found = board["resolved"]
            stein = found["resolution"]
            print(
                f"- {board['corpus']}: {stein['extra_runs']} more final runs ({stein['extra_flops']:.3g} FLOPs, "
                f"{found['seconds']:.0f} s); median half-width ±{found['noise']['median_detects']:.4f}; "
                f"limited by held-out documents (pilot seeds kept): {', '.join(stein.get('limited_by_documents', [])) or 'none'}; "
                f"unreachable within max_seeds: {', '.join(stein['unreachable']) or 'none'}; {found['recommendation']['line']}"
            )
    print("\n| corpus | scored model | median paired sd vs stratified (average loss, last evaluation) |")
    print("|---|---|---|")
    for board in boards:
        for scored, found in board["reducers"].items():
            print(f"| {board['corpus']} | {scored} | {found['median_paired_sd']:.4f} |")
    if args.out:
        args.out.write_text(json.dumps(boards, indent=1))


if __name__ == "__main__":
    main()
