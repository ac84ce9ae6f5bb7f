"""`python -m doremi` as a user runs it: a tiny whole pipeline, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TINY


def run_cli(tmp_path, *args, timeout=600):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "doremi", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.slow
def test_cli_runs_the_whole_pipeline_on_the_demo_corpus(tmp_path):
    result = run_cli(tmp_path, *TINY, "data.demo_max_chars=40000")
    assert result.returncode == 0, result.stderr[-3000:]
    # the summary: learned weights beside baselines, held-out losses, and where things are
    assert "learned" in result.stdout and "loss:doremi" in result.stdout
    assert "mixture: mixtures/demo.json" in result.stdout
    assert "report:  reports/demo/report.md" in result.stdout
    assert "[proxy] step" in result.stderr and "tok/s" in result.stderr and "eta" in result.stderr
    mixture = json.loads((tmp_path / "mixtures" / "demo.json").read_text())
    assert len(mixture["domains"]) >= 5
    assert (tmp_path / "reports" / "demo" / "report.html").exists()
    assert (tmp_path / "runs" / "demo" / "final" / "eval.json").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["stage=nonsense"], "stage=nonsense is not a stage"),
        (["stage=proxy", "run_dir=nowhere"], "run stage=prepare first"),
        (["stage=final", "run_dir=nowhere"], "run stage=prepare first"),
        (["stage=report", "run_dir=nowhere"], "run stage=learn method=doremi first"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, args, fragment):
    result = run_cli(tmp_path, *args, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and fragment in lines[-1], result.stderr
