"""The project's own trajectory check (python -m doremi.methods.doremi.check RUN_DIR) against planted runs."""

import json
import math
import subprocess
import sys

from doremi.methods.doremi.check import main, update

DOMAINS = ["a", "b", "c"]


def planted_run(root, eta=1.0, c=1e-3, steps=12, burn_in=0.0, tamper=None):
    """A proxy folder whose trajectory follows the update exactly (or, with `tamper`, not at that step)."""
    proxy = root / "proxy"
    proxy.mkdir(parents=True)
    alpha, records = [1 / 3] * 3, []
    for t in range(steps):
        excess = [math.sin(t + i) + 1.0 for i in range(3)]
        alpha = update(alpha, excess, eta, c)
        if t == tamper:
            alpha = [alpha[0] + 1e-3, alpha[1] - 1e-3, alpha[2]]
        records.append({"step": t + 1, "excess": dict(zip(DOMAINS, excess)), "weights": dict(zip(DOMAINS, alpha))})
    first = int(burn_in * steps)
    mean = [sum(r["weights"][d] for r in records[first:]) / (steps - first) for d in DOMAINS]
    mixture = {"domains": DOMAINS, "weights": dict(zip(DOMAINS, mean)),
               "provenance": {"eta": eta, "smoothing": c, "burn_in": burn_in}}  # fmt: skip
    (proxy / "mixture.json").write_text(json.dumps(mixture))
    (proxy / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


def test_a_run_that_follows_the_algorithm_passes_and_a_tampered_step_fails(tmp_path, capsys):
    assert main([str(planted_run(tmp_path / "good"))]) == 0 and capsys.readouterr().out.startswith("ok:")
    assert main([str(planted_run(tmp_path / "burn", burn_in=0.25))]) == 0
    assert main([str(planted_run(tmp_path / "bad", tamper=5))]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_a_missing_run_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "doremi.methods.doremi.check", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout.count("\n") == 1 and "run stage=proxy" in done.stdout
