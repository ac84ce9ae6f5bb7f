"""Replay a DoReMi proxy run against the algorithm (docs/concepts/algorithm.md) and say how far it strayed.

    python -m doremi.methods.doremi.check RUN_DIR      # reads RUN_DIR/proxy/trajectory.jsonl and mixture.json

From the logged excess losses lambda_t and the previous step's logged weights (alpha_0: uniform, or the
provenance's `init_weights`) it recomputes every step's update

    alpha_t = (1 - c) * softmax(log alpha_{t-1} + eta * lambda_t) + c / k

and checks that the published weights are the mean of the averaged steps' alpha_t (every step, or those after
the provenance's `burn_in` share of them). Prints one line and exits 0 when both agree to 1e-6, 1 when they do
not, 2 when the run is not there.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

TOLERANCE = 1e-6


def update(previous: list[float], excess: list[float], eta: float, c: float) -> list[float]:
    """One step of the exponentiated-gradient update, in log space, with its smoothing toward uniform."""
    logits = [math.log(a) + eta * x for a, x in zip(previous, excess)]
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [(1 - c) * e / total + c / len(previous) for e in exps]


def replay(mixture: dict, steps: list[dict]) -> dict:
    """{steps, domains, update_error, average_error}: the largest deviation of a logged step from the update
    recomputed from its logged inputs, and of the published weights from the mean of the averaged steps."""
    domains = mixture["domains"]
    k = len(domains)
    provenance = mixture.get("provenance", {})
    eta, c = float(provenance["eta"]), float(provenance["smoothing"])
    init = provenance.get("init_weights")
    previous = [float(init[d]) for d in domains] if isinstance(init, dict) else [1.0 / k] * k
    worst = 0.0
    logged = []
    for record in steps:
        want = update(previous, [float(record["excess"][d]) for d in domains], eta, c)
        got = [float(record["weights"][d]) for d in domains]
        worst = max(worst, *(abs(g - w) for g, w in zip(got, want)))
        logged.append(got)
        previous = got
    first = int(math.floor(float(provenance.get("burn_in", 0.0) or 0.0) * len(logged)))
    averaged = logged[first:] or logged
    mean = [sum(row[i] for row in averaged) / len(averaged) for i in range(k)]
    off = max(abs(m - float(mixture["weights"][d])) for m, d in zip(mean, domains))
    return {"steps": len(logged), "domains": k, "update_error": worst, "average_error": off}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    proxy = Path(argv[0]) / "proxy"
    wanted = [proxy / "mixture.json", proxy / "trajectory.jsonl"]
    missing = [str(p) for p in wanted if not p.is_file()]
    if missing:
        print(f"error: {missing[0]} is not there: run stage=proxy (or the whole pipeline) with run_dir={argv[0]} first")
        return 2
    mixture = json.loads(wanted[0].read_text())
    steps = [json.loads(line) for line in wanted[1].read_text().splitlines() if line.strip()]
    if not steps:
        print(f"error: {wanted[1]} holds no step: the proxy run did not log its trajectory")
        return 2
    out = replay(mixture, steps)
    ok = out["update_error"] <= TOLERANCE and out["average_error"] <= TOLERANCE
    print(
        f"{'ok' if ok else 'MISMATCH'}: {out['steps']} steps, {out['domains']} domains, largest update error "
        f"{out['update_error']:.2e}, largest average error {out['average_error']:.2e} (tolerance {TOLERANCE:g})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
