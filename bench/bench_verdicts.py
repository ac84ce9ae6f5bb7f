"""Do the compare's statistics keep their promises? doremi.stats.simulate's table, on the path that makes the recommendation.

For each family size (methods beside stratified and natural: 1, 2, 3, 5, 9) and each noise (equal: every pair's
seed noise 0.02 nats/token; unequal: 0.007, 0.01 and 0.068 in turn, the spread measured on two corpora):

  coverage    every interval against stratified holds its method's true difference (every mixture equal), stated 95%
  false rec.  a method other than stratified recommended with every mixture equal, promised at most 5%
  power       a method planted better by twice the cell's median half-width recommended, promised at least 80%
  Stein       with compare.resolution=0.02 (pilot 3 seeds, at most 64): of the methods Stein's rule gives seeds to
              (neither out after the pilot, nor limited by their held-out documents, nor needing more than 64),
              the share whose interval reached 0.02 and the coverage of the second stage's intervals; the share of
              all that needed more than 64; and how many methods limited by documents trained beyond the pilot
              (promised: none)

Each rate carries its Monte Carlo 95% interval (Wilson), so a miss cannot hide in the simulation's own noise.

    python bench/bench_verdicts.py                 # 1,000 runs per cell (about 20 minutes on one core)
    python bench/bench_verdicts.py --runs 200 --sizes 3,9
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from doremi.stats import simulate  # noqa: E402

UNEQUAL = [0.007, 0.01, 0.068]


def wilson(hits: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion."""
    from scipy.stats import binomtest

    ci = binomtest(hits, n).proportion_ci(method="wilson")
    return ci.low, ci.high


def noise_of(kind: str, m: int) -> list[float]:
    return [UNEQUAL[i % 3] for i in range(m)] if kind == "unequal" else [0.02] * m


def cell(m: int, kind: str, runs: int, seed: int) -> dict:
    sds = noise_of(kind, m)
    rng = np.random.default_rng([m, len(kind), seed])
    equal = simulate.Scenario(truths=[0.0] * m, seed_sd=sds, doc_sd=0.02)
    results = [simulate.one_run(equal, rng) for _ in range(runs)]
    half = float(np.median([r["half_width"] for r in results]))
    planted = simulate.Scenario(truths=[-2 * half] + [0.0] * (m - 1), seed_sd=[float(np.median(sds))] + sds[1:], doc_sd=0.02)  # fmt: skip
    found = [simulate.one_run(planted, rng)["recommended"] == "m0" for _ in range(runs)]
    stein = [simulate.stein_run(equal, rng, 0.02) for _ in range(max(runs // 4, 50))]
    free = [v for run in stein for v in run.values() if not (v["limited_by_documents"] or v["out"] or v["unreachable"])]
    beyond = sum(v["unreachable"] for run in stein for v in run.values())
    limited = [v for run in stein for v in run.values() if v["limited_by_documents"]]
    return {
        "covered": sum(r["covered"] for r in results),
        "false": sum(r["recommended"] != "stratified" for r in results),
        "power": sum(found),
        "runs": runs,
        "half": half,
        "reached": sum(v["half_width"] <= 0.02 + 1e-12 for v in free),
        "free": len(free),
        "stein_covered": sum(v["covered"] for v in free),
        "stein_seeds": float(np.median([v["seeds"] for v in free])) if free else 0.0,
        "beyond": beyond,
        "limited_extra": sum(v["seeds"] > 3 for v in limited),
        "judged": sum(len(run) for run in stein),
    }


def show(rate: int, n: int) -> str:
    low, high = wilson(rate, n)
    return f"{rate / n:.1%} [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sizes", default="1,2,3,5,9")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| methods | noise | coverage (≥ 95%) | false rec. (≤ 5%) | median half-width | power at 2× (≥ 80%) | Stein: reached 0.02 | Stein coverage | Stein seeds (median) | beyond 64 | documents-limited trained more |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for m in [int(x) for x in args.sizes.split(",")]:
        for kind in ("equal", "unequal"):
            started = time.perf_counter()
            c = cell(m, kind, args.runs, args.seed)
            print(
                f"| {m} | {kind} | {show(c['covered'], c['runs'])} | {show(c['false'], c['runs'])} | ±{c['half']:.4f} | "
                f"{show(c['power'], c['runs'])} | {show(c['reached'], max(c['free'], 1))} | "
                f"{show(c['stein_covered'], max(c['free'], 1))} | {c['stein_seeds']:.0f} | "
                f"{c['beyond'] / max(c['judged'], 1):.0%} | {c['limited_extra']} |",
                flush=True,
            )
            print(f"<!-- {m} {kind}: {time.perf_counter() - started:.0f} s -->", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
