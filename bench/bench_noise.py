"""How noisy is a verdict, and what makes it less so? Seeds of stratified and natural sampling on every bench corpus.

For each corpus (demo, system, packages; see bench_methods.py): prepare, then stage=final with stratified as the
mixture under test and natural beside it, `--seeds` seeds each (the same seeds: same initialization, same
per-domain data order), once per variant of the training settings (`--variants`: the defaults, the old warmup
of 20 steps, a cosine that ends at 0). Every run scores, at its last evaluation, the raw weights, their EMA
and their LAWA average (doremi.training.averaging), so those reducers are compared on the same runs. The seeds are
spread over `--jobs` processes of one torch thread each. Printed per corpus, variant and scored model:

  loss         stratified's mean average held-out loss (nats/token): what the variant costs in quality
  seed sd      the standard deviation over seeds of stratified's average held-out loss
  paired sd    of the per-seed difference natural - stratified (what a verdict's seed term sees)
  corr         the correlation of the two mixtures' losses over seeds (1: pairing removes the seed noise)
  se docs      the held-out documents' standard error of that difference (the other term)
  ±3 seeds     the 95% half-width a 3-seed comparison would have: t(2) * paired sd / sqrt(3) (+) t(docs df) * se docs
  ±n seeds     the half-width with all the seeds run here

    python bench/bench_noise.py                                 # every corpus, 8 seeds, every variant
    python bench/bench_noise.py --corpus demo --seeds 6 --variants default,warmup20
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_methods import bench_corpora  # noqa: E402
from bench_variants import config  # noqa: E402

from doremi.pipeline.common import heldout_for, quiet_lightning  # noqa: E402
from doremi.pipeline.prepared import load_prepared  # noqa: E402
from doremi.stages import run_stage  # noqa: E402
from doremi.stats import (
    family,  # noqa: E402
    verdict,  # noqa: E402
)

SCORED = ("raw", "ema", "lawa")
VARIANTS = {
    "default": [],
    "warmup20": ["optim.warmup_steps=20"],  # the warmup before this round: 20 steps to the peak rate
    "min_lr0": ["optim.min_lr_ratio=0"],
}


def last_scores(folders: list[Path], mixture: str, seeds: list[int], scored: str) -> list[dict]:
    """Each seed's last evaluation of one scored model: {"losses": {domain: nats/token}, "documents": [...]}."""
    out = []
    for s in seeds:
        found = [f / mixture / f"seed-{s}" / "result.json" for f in folders]
        last = json.loads(next(p for p in found if p.exists()).read_text())["history"][-1]
        out.append(last if scored == "ema" else last["alternatives"][scored])
    return out


def overrides(prepared: Path, data: list[str], extra: list[str], seeds: list[int]) -> list[str]:
    return [
        *data, *extra, f"prepare.reuse={prepared}", "stage=final", "final.mixture=stratified",
        "final.baselines=[natural]", f"final.seeds=[{','.join(map(str, seeds))}]", "final.average=ema",
        "trainer.hf_checkpoints=false",
    ]  # fmt: skip


def train_share(run_dir: Path, args: list[str]) -> None:
    """One worker: stage=final on its share of the seeds, one torch thread."""
    import torch

    torch.set_num_threads(1)
    quiet_lightning()
    run_stage(config(run_dir, args))


def measure(prepared: Path, where: Path, data: list[str], extra: list[str], seeds: int, jobs: int) -> list[dict]:
    shares = [list(range(seeds))[j::jobs] for j in range(jobs)]
    dirs = [where / f"share-{j}" for j in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        for done in [pool.submit(train_share, d, overrides(prepared, data, extra, s)) for d, s in zip(dirs, shares)]:
            done.result()
    cfg = config(dirs[0], overrides(prepared, data, extra, shares[0]))
    data_ = load_prepared(cfg)
    heldout = heldout_for(cfg, data_)
    folders = [d / "final" for d in dirs]
    order = list(range(seeds))
    out = []
    for scored in SCORED:
        scores = {m: last_scores(folders, m, order, scored) for m in ("natural", "stratified")}
        sums = {m: np.array([x["documents"] for x in v])[:, None, :] for m, v in scores.items()}
        judged = verdict.compare(sums, "natural", heldout.doc_domain, heldout.doc_tokens, [0], data_.domains)
        average = judged["baselines"]["stratified"]["average"]
        noise = average["noise"]
        strat, nat = ([np.mean(list(x["losses"].values())) for x in scores[m]] for m in ("stratified", "natural"))
        # what 3 seeds would give, the documents' term as measured
        three = family.half_width(noise["seed_sd"] / np.sqrt(3), 2, noise["se_documents"], noise["df_documents"])
        out.append(
            {
                "scored": scored,
                "loss": float(np.mean(strat)),
                "seed_sd": float(np.std(strat, ddof=1)),
                "paired_sd": noise["seed_sd"],
                "corr": float(np.corrcoef(strat, nat)[0, 1]),
                "se_docs": noise["se_documents"],
                "half_3_seeds": three,
                "half_all_seeds": average["half_width"],
                "difference": average["difference"],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=["demo", "system", "packages", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {', '.join(VARIANTS)}")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    quiet_lightning()
    extra = [f"trainer.max_steps={args.steps}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in bench_corpora(root, args.corpus):
            started = time.perf_counter()
            run_stage(config(root / name, [*data, *extra, "stage=prepare"]))
            for variant in args.variants.split(","):
                where = root / name / variant
                for row in measure(
                    root / name / "prepare", where, data, [*extra, *VARIANTS[variant]], args.seeds, args.jobs
                ):
                    rows.append({"corpus": name, "variant": variant, **row})
                print(f"[bench] {name} {variant}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{args.seeds} seeds, {args.steps} steps; natural - stratified, nats/token, at the last evaluation\n")
    print(
        "| corpus | variant | scored | loss | seed sd | paired sd | corr | se docs | ±3 seeds | ±all seeds | difference |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['corpus']} | {r['variant']} | {r['scored']} | {r['loss']:.4f} | {r['seed_sd']:.4f} | "
            f"{r['paired_sd']:.4f} | {r['corr']:+.2f} | {r['se_docs']:.4f} | ±{r['half_3_seeds']:.4f} | "
            f"±{r['half_all_seeds']:.4f} | {r['difference']:+.4f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
