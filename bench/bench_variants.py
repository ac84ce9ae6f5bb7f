"""Does the learned mixture beat uniform and natural? The paper's algorithm and the remedies
for small runs, on real corpora, with several seeds and intervals.

For each corpus: prepare, one reference (uniform mixture), then one proxy per variant:

    paper        DoReMi as in the paper (the default): every step averaged
    burn_in      the same trajectory averaged after its first 20% of steps (dro.burn_in=0.2)
    warm_start   the proxy trains 50 steps on uniform before Group DRO starts (dro.warm_start=50)

and final models on each variant's weights and on uniform and natural, with the same seeds;
each variant is judged against both baselines by doremi.stats.verdict (95% intervals).

Corpora: `demo` (the embedded stdlib corpus) and `system` (text this machine ships, built
here: English, German and French man pages, Perl modules, JavaScript from node_modules, and
Debian copyright files). Neither is tuned for.

    python bench/bench_variants.py                    # both corpora, 3 seeds, default demo model and steps
    python bench/bench_variants.py --corpus system --seeds 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.compare.mixtures import Candidate, train_one
from doremi.data.packing import PackedData
from doremi.pipeline.common import heldout_for, quiet_lightning
from doremi.stages import run_stage
from doremi.stages.final import evaluation

SYSTEM_SOURCES = {
    "man_en": ("/usr/share/man", "man[1-8]/*.gz"),
    "man_de": ("/usr/share/man/de", "**/*.gz"),
    "man_fr": ("/usr/share/man/fr", "**/*.gz"),
    "perl": ("/usr/share/perl", "**/*.pm"),
    "javascript": ("/usr/lib/node_modules", "**/*.js"),
    "licenses": ("/usr/share/doc", "*/copyright"),
}


def build_system_corpus(out: Path, budget: int = 500_000) -> dict[str, str]:
    """One JSONL file per domain: whole files in sorted order until `budget` characters."""
    files = {}
    for name, (root, pattern) in SYSTEM_SOURCES.items():
        records, total = [], 0
        for path in sorted(Path(root).glob(pattern)):
            try:
                raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError, EOFError):
                continue
            if len(text) < 200:
                continue
            records.append({"text": text[:20_000]})
            total += len(records[-1]["text"])
            if total >= budget:
                break
        if total < budget // 4:
            raise SystemExit(
                f"{name}: only {total} characters under {root}; this machine lacks that part of the corpus"
            )
        files[name] = str(out / f"{name}.jsonl")
        Path(files[name]).write_text("".join(json.dumps(r) + "\n" for r in records))
    return files


def config(run_dir: Path, extra: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="config",
            overrides=[
                f"run_dir={run_dir}",
                f"mixtures_dir={run_dir}/mixtures",
                f"reports_dir={run_dir}/reports",
                *extra,
            ],
        )


def learned(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "proxy" / "mixture.json").read_text())["weights"]


def burned_in(run_dir: Path, fraction: float) -> dict[str, float]:
    """The paper run's trajectory averaged after its first `fraction` of steps (= dro.burn_in)."""
    steps = [json.loads(x) for x in (run_dir / "proxy" / "trajectory.jsonl").read_text().splitlines() if x.strip()]
    kept = steps[int(fraction * len(steps)) :]
    return {d: float(np.mean([s["weights"][d] for s in kept])) for d in kept[0]["weights"]}


def bench_corpus(name: str, data_overrides: list[str], root: Path, seeds: int, extra: list[str]) -> list[dict]:
    started = time.perf_counter()
    base = root / name
    cfg = config(base, [*data_overrides, *extra, f"final.seeds={seeds}"])
    for stage in ("prepare", "reference", "proxy"):
        run_stage(config(base, [*data_overrides, *extra, f"stage={stage}"]))
    warm = root / f"{name}-warm"
    warm.mkdir(parents=True, exist_ok=True)
    for stage in ("prepare", "reference"):  # the same prepared data and reference
        target = warm / stage
        if not target.exists():
            target.symlink_to(base / stage, target_is_directory=True)
    run_stage(config(warm, [*data_overrides, *extra, "stage=proxy", "dro.warm_start=50"]))
    variants = {"paper": learned(base), "burn_in": burned_in(base, 0.2), "warm_start": learned(warm)}
    data = PackedData(base / "prepare")
    tokens = np.array(data.token_counts("train"), dtype=np.float64)
    mixtures = {
        **{k: [v[d] for d in data.domains] for k, v in variants.items()},
        "uniform": [1 / len(data.domains)] * len(data.domains),
        "natural": (tokens / tokens.sum()).tolist(),
    }
    heldout = heldout_for(cfg, data)
    seed_list = list(range(seeds))
    results = {}
    for mixture, weights in mixtures.items():
        results[mixture] = {
            s: train_one(
                cfg, data, Candidate(mixture, weights), s, heldout, base / "bench" / mixture / f"seed-{s}", None
            )
            for s in seed_list
        }
    rows = []
    for variant in variants:
        subset = {k: results[k] for k in (variant, "uniform", "natural")}
        report = evaluation(cfg, data, variant, seed_list, heldout, subset)
        rows.append({"corpus": name, "variant": variant, "weights": variants[variant], **report["comparison"]})
    print(f"[bench] {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def cell(c: dict) -> str:
    low, high = c["interval"]
    mark = {"better": "win", "worse": "loss", "no detectable difference": "tie"}[c["verdict"]]
    return f"{c['difference']:+.4f} [{low:+.4f}, {high:+.4f}] {mark}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=["demo", "system", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    quiet_lightning()
    extra = [f"trainer.max_steps={args.steps}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.corpus in ("demo", "all"):
            rows += bench_corpus("demo", [], root, args.seeds, extra)
        if args.corpus in ("system", "all"):
            files = build_system_corpus(root)
            domains = "data.domains={" + ",".join(f"{k}:'{v}'" for k, v in files.items()) + "}"
            rows += bench_corpus("system", [domains], root, args.seeds, extra)
    print(f"\n{args.seeds} seeds, {args.steps} steps per stage; loss differences (nats/token), variant minus baseline,")
    print("95% intervals; win = interval below 0, loss = above 0, tie = covers 0\n")
    print("| corpus | variant | average vs uniform | average vs natural | worst vs uniform | worst vs natural |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        u, n = r["baselines"]["uniform"], r["baselines"]["natural"]
        print(
            f"| {r['corpus']} | {r['variant']} | {cell(u['average'])} | {cell(n['average'])} | "
            f"{cell(u['worst'])} | {cell(n['worst'])} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
