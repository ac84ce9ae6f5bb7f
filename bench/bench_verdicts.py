"""The compares' statistical promises, measured through the engine that makes the recommendation
(doremi.compare.simulate: simulated contestants trained by doremi.compare.engine.run, judged by
doremi.stats.decide.judging with 2,000 bootstrap replicates, decided by doremi.stats.decide.recommend).

Cells: family sizes (contestants besides the control: 1, 2, 5 and 8, the last a compare of 9 mixtures with natural
among them), equal noise (every paired seed SD 0.02 nats/token) and unequal noise (0.007, 0.01, 0.068 in turn,
measured on two corpora), the decision read on the average, the worst domain (the control's two worst domains
tied) and a target list (two of four domains). Held-out documents: 4 domains x 12, token counts log-uniform
between 2 and 1,152, per-document deviation 0.02 and a seed x document interaction of 0.005 nats/token.

- false: the share of compares, every mixture equal, that recommend anything but the control (family-wise error);
- bounds hold: the share whose printed one-sided decision bounds all lie above the truth;
- intervals hold: the share whose printed two-sided intervals (the judged contestants') all hold the truth;
- power at k sigma: the share recommending the one method truly better by k paired seed-SDs (its own);
- contradictions: recommendations printed beside a bound at or above 0 (must be 0).

    OMP_NUM_THREADS=1 python bench/bench_verdicts.py [--runs 1000] [--small-runs 200] [--part 0/1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from doremi.compare import simulate as sim

UNEQUAL = [0.007, 0.01, 0.068]
NOISES = {"equal": lambda m: [0.02] * m, "unequal": lambda m: [0.01] + [UNEQUAL[i % 3] for i in range(1, m)]}
KEYS = {"average": {}, "worst": {"key": "worst", "tied_worst": True}, "target": {"key": "target", "target": [0, 1]}}


def scenario(family: int, noise: str, key: str, shift: float = 0.0) -> sim.Scenario:
    natural = family >= 2
    m = family - natural
    sds = NOISES[noise](m)
    truths = [-shift * sds[0]] + [0.0] * (m - 1)
    return sim.Scenario(truths=truths, seed_sd=sds, natural=natural, docs=12, doc_sd=0.02, interaction_sd=0.005,
                        tokens="real", **KEYS[key])  # fmt: skip


def cells(runs: int, small: int) -> list[tuple]:
    out = []
    for family in (1, 2, 5, 8):
        n = runs if family == 8 else small
        for noise in NOISES:
            for key in KEYS:
                out.append((family, noise, key, 0.0, n))
            for shift in (1.5, 2.0, 3.0):
                out.append((family, noise, "average", shift, n))
            out += [(family, noise, key, 2.0, n) for key in ("worst", "target")]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="simulated compares in each cell of 9 mixtures")
    parser.add_argument("--small-runs", type=int, default=200, help="... in the smaller families' cells")
    parser.add_argument("--part", default="0/1", help="i/n: this process's share of the cells")
    parser.add_argument("--design", default="screen", choices=("screen", "single"))
    args = parser.parse_args()
    i, n = (int(x) for x in args.part.split("/"))
    for c, (family, noise, key, shift, runs) in enumerate(cells(args.runs, args.small_runs)):
        if c % n != i:
            continue
        started = time.perf_counter()
        r = sim.rates(scenario(family, noise, key, shift), runs, seed=1000 + c, design=args.design)
        row = {"family": family, "noise": noise, "key": key, "shift_sigma": shift, "runs": runs, "design": args.design,
               "power" if shift else "false": r["recommended"].get("m0", 0.0) if shift else r["false"],
               "bounds_hold": r["bounds_hold"], "intervals_hold": r["intervals_hold"], "contradictions": r["contradictions"],
               "trainings": r["runs"], "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
