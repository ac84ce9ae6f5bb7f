"""Which SFT set should I fine-tune on? Every SFT set method on three instruction pools, judged by stage=sft_compare.

The base model is one small GPT pretrained on the embedded demo corpus (stratified mixture); every pool's sets
fine-tune it with the same seeds and are scored on the pool's fixed dev set (held out before any selection).
Prints one Markdown table per pool: each method's dev loss against random (average over sources and worst
source, 95% intervals, the family held together), forgetting, and its selection cost, as they came out.

Pools (text this machine carries; nothing downloaded, nothing tuned for):
  demo      the embedded pool: the standard library's docstrings and reference topics (4 sources)
  man       man pages: "What does the `ls` command do?" answered by the page's DESCRIPTION, by section
            (commands, library calls, file formats, administration)
  packages  Debian's package database: "What is the Debian package `x` for?" answered by its description,
            sources by the package's section group

    python bench/bench_sft.py                    # every pool, 3 seeds
    python bench/bench_sft.py --pool man --seeds 5 --budget 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_variants import config  # noqa: E402

from doremi.outputs.report.sft import cost_words  # noqa: E402
from doremi.pipeline.common import quiet_lightning  # noqa: E402
from doremi.stages import run_stage  # noqa: E402

TEXT_MACROS = {".B", ".I", ".BR", ".BI", ".IR", ".RB", ".RI", ".IB", ".SM", ".IP", ".Nm", ".Ar", ".Fa", ".Xr"}
MAN_SECTIONS = {"commands": "man1", "library": "man3", "formats": "man5", "admin": "man8"}
ROFF = re.compile(r"\\f[BIRP]|\\f\(..|\\[&|^%/,]|\\\(..|\\\*\(..|\\\*.")


def man_text(path: Path) -> tuple[str, str] | None:
    """(name, DESCRIPTION text) of a roff man page, macros and font escapes removed."""
    try:
        lines = gzip.open(path, "rt", errors="replace").read().splitlines()
    except (OSError, EOFError):
        return None
    name, out, inside = path.name.split(".")[0], [], False
    for line in lines:
        if line.startswith(".SH"):
            inside = "DESCRIPTION" in line.upper()
            continue
        if not inside or line.startswith(('.\\"', "'\\\"")):
            continue
        macro, _, rest = line.partition(" ")
        text = line if not line.startswith(".") else rest if macro in TEXT_MACROS else ""
        out.append(ROFF.sub("", text).replace("\\-", "-").replace("\\e", "\\"))
    description = re.sub(r"\s+", " ", " ".join(out)).strip()
    return (name, description[:2000]) if len(description) > 80 else None


def build_man_pool(out: Path, per_section: int = 400) -> Path:
    records = []
    for source, folder in MAN_SECTIONS.items():
        kept = 0
        for path in sorted(Path("/usr/share/man", folder).glob("*.gz")):
            page = man_text(path)
            if page is None:
                continue
            what = {"commands": "command", "library": "library function", "formats": "file format", "admin": "administration command"}[source]  # fmt: skip
            records.append({"prompt": f"What does the `{page[0]}` {what} do?", "response": page[1], "source": source})
            kept += 1
            if kept >= per_section:
                break
    return write(out / "man.jsonl", records)


def section_group(section: str) -> str:
    section = section.split("/")[-1]
    if section in ("libs", "libdevel", "oldlibs"):
        return "libraries"
    if section in ("devel", "python", "perl", "interpreters", "javascript", "rust", "golang"):
        return "development"
    if section in ("utils", "admin", "net", "shells", "text", "misc", "editors", "vcs", "web"):
        return "tools"
    return "other"


def build_packages_pool(out: Path) -> Path:
    records = []
    for block in Path("/var/lib/dpkg/status").read_text(errors="replace").split("\n\n"):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += "\n" + (line[1:] if line.strip() != "." else "")
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Package" in fields and "Description" in fields:
            records.append({
                "prompt": f"What is the Debian package `{fields['Package']}` for?",
                "response": fields["Description"].strip(),
                "source": section_group(fields.get("Section", "other")),
            })  # fmt: skip
    return write(out / "packages.jsonl", records)


def write(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


BASE = ["model.seq_len=256", "trainer.max_steps=300", "method=stratified", "final.seeds=1", "final.baselines=[]"]


def base_run(root: Path) -> list[str]:
    """The base model: the demo corpus, stratified, one final model (reused when done)."""
    started = time.perf_counter()
    run_stage(config(root / "run", [*BASE, "stage=all"]))
    print(f"# base model ready in {time.perf_counter() - started:.0f} s", flush=True)
    return BASE


def bench_pool(name: str, pool: Path | None, root: Path, args) -> dict:
    started = time.perf_counter()
    sft = [
        f"sft.budget={args.budget}", f"sft.epochs={args.epochs}", f"sft.compare.seeds={args.seeds}",
        "sft.dev_size=48", "sft.filters.min_chars=300", "sft.learn.steps=50", "sft.learn.batch_size=8", "sft.learn.base=final",
        f"run_dir={root / 'run'}", "overwrite=true", "stage=sft_compare",
    ]  # fmt: skip
    if pool is not None:
        sft.append(f"sft.paths=[{pool}]")
    cfg = config(root / "run", [*BASE, *sft])
    run_stage(cfg)
    board = json.loads((root / "run" / "sft_compare" / "leaderboard.json").read_text())
    board["pool"], board["seconds"] = name, time.perf_counter() - started
    (root / f"sft-{name}.json").write_text(json.dumps(board))
    return board


def decided(row: dict) -> str:
    """The decision against random with the one-sided bound that made it."""
    made = row.get("decision", {})
    if "bound" not in made:
        return "screened out" if row.get("stage") == "screened out" else ""
    return f"{'**better**' if made['better'] else 'not decided'} (<= {made['bound']:+.4f})"


def table(board: dict) -> str:
    lines = [
        f"**{board['pool']}** ({sum(v['dev'] for v in board['dev_set'].values())} dev examples, "
        f"{len(board['sources'])} sources, budget {board['budget']['examples']}, {board['budget']['epochs']} epochs, "
        f"seeds {board['seeds']}; {board['seconds'] / 60:.1f} min)",
        "",
        "| set | judged (seeds) | dev loss | vs random, average | | decision (bound) | worst source vs random | | forgetting | cost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in board["rows"]:
        vs = row["vs"].get("random", {})
        avg, worst = vs.get("average"), vs.get("worst")
        cost = row["cost"]
        spent = cost_words(cost)
        cells = [
            row["method"], f"{row.get('stage', '')} ({len(row['seeds'])})", f"{row['average']:.4f}",
            f"{avg['difference']:+.4f} [{avg['interval'][0]:+.4f}, {avg['interval'][1]:+.4f}]" if avg else "(control)",
            avg["verdict"] if avg else "", decided(row),
            f"{worst['difference']:+.4f}" if worst else "", worst["verdict"] if worst else "",
            f"{row['forgetting']['increase']:+.4f}", spent,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", board["recommendation"]["line"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", choices=["demo", "man", "packages"], action="append")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path("runs/bench-sft"))
    args = parser.parse_args()
    quiet_lightning()
    base_run(args.root)
    builders = {"demo": lambda: None, "man": lambda: build_man_pool(args.root / "pools"),
                "packages": lambda: build_packages_pool(args.root / "pools")}  # fmt: skip
    for name in args.pool or list(builders):
        board = bench_pool(name, builders[name](), args.root, args)
        print(table(board), flush=True)


if __name__ == "__main__":
    main()
