"""The swarm end to end: RegMix and the mixing law on a corpus with a known answer, reuse of runs, and Hydra's
launchers (joblib, submitit's local executor) giving the same runs as the sequential launch."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from doremi.stages import run_stage
from tests.conftest import TINY, domains_override, synthetic_domains

SWARM = ["swarm.runs=16", "swarm.steps=25", "swarm.model={n_layer: 1, n_head: 2, d_model: 32}", "swarm.folds=4"]


def results(run_dir):
    return sorted(
        (json.loads(p.read_text()) for p in (run_dir / "swarm" / "runs").glob("*/result.json")),
        key=lambda r: r["index"],
    )


@pytest.mark.slow
def test_fitted_mixtures_put_weight_on_the_targets_near_copy(tmp_path, make_cfg):
    # 'target' and 'copy' are the same kind of text from different draws; 'noise' is digits
    files = synthetic_domains(tmp_path / "src", {"target": "words", "noise": "digits"}, seed=1)
    files["copy"] = synthetic_domains(tmp_path / "src2", {"copy": "words"}, seed=2)["copy"]
    base = [domains_override(files), *SWARM, "learn.target=[target]"]
    run_stage(make_cfg(*base, "stage=prepare"))
    for method in ("regmix", "mixing_law"):
        check = ["swarm.check_scale=tiny", "swarm.check_steps=20", "swarm.check_runs=2"] if method == "regmix" else []
        run_stage(make_cfg(*base, *check, "stage=learn", f"method={method}", f"mixtures_dir={tmp_path / method}"))
        mixture = json.loads((tmp_path / "run" / "learn" / method / "mixture.json").read_text())
        w = mixture["weights"]
        assert w["copy"] > w["noise"], (method, w)
        prov = mixture["provenance"]
        assert prov["method"] == method and prov["swarm"]["runs"] == 16 and prov["cost"]["flops"] > 0
        assert {"spearman", "mae"} <= set(prov["fit"]) and prov["target"]["domains"] == ["target"]
        if method == "regmix":  # the scale check: 4 mixtures at the swarm's size and at model=tiny's
            scale = prov["scale_check"]
            assert set(scale["large"]) == {"predicted", "stratified", "swarm-0", "swarm-1"} == set(scale["small"])
            assert -1 <= scale["spearman"] <= 1 and scale["preset"] == "tiny"
            # judged by the compare's rule: the predicted mixture against stratified, an interval around the difference
            judged = scale["at_larger"]["predicted"]
            low, high = judged["interval"]
            assert low <= judged["difference"] <= high and judged["verdict"] in (
                "better",
                "worse",
                "no detectable difference",
            )
            assert judged["difference"] == pytest.approx(
                scale["large"]["predicted"] - scale["large"]["stratified"], abs=1e-6
            )
    table = [json.loads(line) for line in (tmp_path / "run" / "swarm" / "runs.jsonl").read_text().splitlines()]
    assert [r["index"] for r in table] == list(range(16)) and set(table[0]["losses"]) == {"target", "copy", "noise"}
    # growing the swarm trains only the new runs; a lost run is run again
    shutil.rmtree(tmp_path / "run" / "swarm" / "runs" / table[3]["id"])
    before = {r["id"] for r in results(tmp_path / "run")}
    run_stage(make_cfg(*base, "stage=swarm", "swarm.runs=18"))
    after = results(tmp_path / "run")
    assert len(after) == 18 and before < {r["id"] for r in after}
    assert after[3] == table[3]  # re-run, the same numbers


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", ["submitit_local"]
)  # joblib: stage=compare's trials (tests/stages/test_compare.py)
def test_hydra_launchers_give_the_sequential_runs(tmp_path, make_cfg, launcher):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=60)
    small = [*TINY, domains_override(files), *SWARM, "swarm.runs=2", "swarm.steps=10"]
    run_stage(make_cfg(*small, "stage=prepare"))
    run_stage(make_cfg(*small, "stage=swarm"))  # sequential, in this process
    launched = tmp_path / "launched"
    launched.mkdir()
    shutil.copytree(tmp_path / "run" / "prepare", launched / "prepare")
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=10"]
    command = [sys.executable, "-m", "doremi", "-m", *small, "stage=swarm", "swarm.index=0,1",
               f"run_dir={launched}", f"hydra/launcher={launcher}", *extra,
               f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert results(launched) == results(tmp_path / "run") and len(results(launched)) == 2


@pytest.mark.slow
def test_the_fits_aim_at_your_target_when_target_paths_are_given(tmp_path, make_cfg):
    """Planted: two domains of equal size, words and digits; the target is new digits text. Fitted to the target's
    loss (each swarm run scored on the target's screen part), both fits give the digits domain the larger weight."""
    import random

    from tests.conftest import digits_text, write_jsonl

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, seed=1)
    rng = random.Random("target")
    target = write_jsonl(tmp_path / "mine.jsonl", [{"text": digits_text(rng, 80)} for _ in range(24)])
    base = [domains_override(files), *SWARM, f"target.paths=[{target}]"]
    run_stage(make_cfg(*base, "stage=prepare"))
    for method in ("regmix", "mixing_law"):
        run_stage(make_cfg(*base, "stage=learn", f"method={method}", f"mixtures_dir={tmp_path / method}"))
        mixture = json.loads((tmp_path / "run" / "learn" / method / "mixture.json").read_text())
        assert mixture["provenance"]["target"]["kind"] == "external"
        assert mixture["weights"]["numbers"] > mixture["weights"]["prose"], (method, mixture["weights"])
    assert all("target_loss" in r for r in results(tmp_path / "run"))
