"""How noisy is a verdict, and what makes it less so? Seeds of stratified and natural sampling on every bench corpus.

For each corpus (demo, system, packages; see bench_methods.py): prepare, then stage=final with stratified as the
mixture under test and natural beside it, `--seeds` seeds each (the same seeds: same initialization, same
per-domain data order), once per schedule (the cosine ending at optim.min_lr_ratio=0.1, the default, and at 0).
Every run scores, at its last evaluation, the raw weights, their EMA and their LAWA average (doremi.lit.averaging),
so the reducers are compared on the same runs. Printed per corpus, schedule and scored model:

  seed sd      the standard deviation over seeds of stratified's average held-out loss (nats/token)
  paired sd    of the per-seed difference natural - stratified (what a verdict's seed term sees)
  se docs      the held-out documents' standard error of that difference (the other term)
  ±3 seeds     the 95% half-width a 3-seed comparison would have: t(2) * paired sd / sqrt(3) (+) se docs
  ±n seeds     the half-width with all the seeds run here

    OMP_NUM_THREADS=2 python bench/bench_noise.py                  # every corpus, 8 seeds, both schedules
    python bench/bench_noise.py --corpus demo --seeds 8 --steps 300
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
from bench_methods import build_packages_corpus  # noqa: E402
from bench_variants import build_system_corpus, config  # noqa: E402

from doremi import verdict  # noqa: E402
from doremi.stages import run_stage  # noqa: E402
from doremi.stages.common import heldout_for, quiet_lightning  # noqa: E402
from doremi.stages.prepared import load_prepared  # noqa: E402

SCORED = ("raw", "ema", "lawa")


def last_scores(folder: Path, mixture: str, seeds: int, scored: str) -> list[dict]:
    """Each seed's last evaluation of one scored model: {"losses": {domain: nats/token}, "documents": [...]}."""
    out = []
    for s in range(seeds):
        last = json.loads((folder / mixture / f"seed-{s}" / "result.json").read_text())["history"][-1]
        out.append(last if scored == "ema" else last["alternatives"][scored])
    return out


def measure(base: Path, data: list[str], extra: list[str], seeds: int, schedule: float) -> list[dict]:
    run_dir = base / f"min_lr_{schedule}"
    overrides = [
        *data, *extra, f"prepare.reuse={base / 'prepare'}", f"optim.min_lr_ratio={schedule}",
        "stage=final", "final.mixture=stratified", "final.baselines=[natural]", f"final.seeds={seeds}",
        "final.average=ema", "trainer.hf_checkpoints=false",
    ]  # fmt: skip
    cfg = config(run_dir, overrides)
    run_stage(cfg)
    data_ = load_prepared(cfg)
    heldout = heldout_for(cfg, data_)
    folder = run_dir / "final"
    out = []
    for scored in SCORED:
        scores = {m: last_scores(folder, m, seeds, scored) for m in ("natural", "stratified")}
        sums = {m: np.array([x["documents"] for x in v])[:, None, :] for m, v in scores.items()}
        judged = verdict.compare(sums, "natural", heldout.doc_domain, heldout.doc_tokens, [0], data_.domains)
        average = judged["baselines"]["stratified"]["average"]
        noise = average["noise"]
        strat = [np.mean(list(x["losses"].values())) for x in scores["stratified"]]
        three = verdict.t_quantile(2) * float(np.hypot(noise["seed_sd"] / np.sqrt(3), noise["se_documents"]))
        out.append(
            {
                "schedule_min_lr": schedule,
                "scored": scored,
                "seed_sd": float(np.std(strat, ddof=1)),
                "paired_sd": noise["seed_sd"],
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
    parser.add_argument("--schedules", default="0.1,0.0", help="optim.min_lr_ratio values to measure")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    quiet_lightning()
    extra = [f"trainer.max_steps={args.steps}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpora = [("demo", None), ("system", build_system_corpus), ("packages", build_packages_corpus)]
        for name, build in corpora:
            if args.corpus not in (name, "all"):
                continue
            started = time.perf_counter()
            data = []
            if build:
                (root / "src" / name).mkdir(parents=True, exist_ok=True)
                files = build(root / "src" / name)
                data = ["data.domains={" + ",".join(f"{k}:'{v}'" for k, v in files.items()) + "}"]
            run_stage(config(root / name, [*data, *extra, "stage=prepare"]))
            for schedule in (float(x) for x in args.schedules.split(",")):
                for row in measure(root / name, data, extra, args.seeds, schedule):
                    rows.append({"corpus": name, **row})
            print(f"[bench] {name}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{args.seeds} seeds, {args.steps} steps; natural - stratified, nats/token, at the last evaluation\n")
    print("| corpus | min_lr_ratio | scored | seed sd | paired sd | se docs | ±3 seeds | ±all seeds | difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['corpus']} | {r['schedule_min_lr']} | {r['scored']} | {r['seed_sd']:.4f} | {r['paired_sd']:.4f} | "
            f"{r['se_docs']:.4f} | ±{r['half_3_seeds']:.4f} | ±{r['half_all_seeds']:.4f} | {r['difference']:+.4f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
