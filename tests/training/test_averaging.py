"""The scored model as an average of the weights: the averages are swapped in for evaluation only, so the raw
scores and the trained model are those of a run without averaging."""

import json

import pytest
import torch

from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains


@pytest.mark.slow
def test_an_averaged_score_leaves_training_and_the_raw_score_as_they_were(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=80, seed=2)
    base = [domains_override(files), "final.mixture=stratified", "final.baselines=[]", "final.eval_every=10"]
    run_stage(make_cfg(*base, "stage=prepare"))
    results = {}
    for average in ("none", "ema", "lawa"):
        run_dir = tmp_path / average
        run = [*base, f"run_dir={run_dir}", f"prepare.reuse={tmp_path / 'run' / 'prepare'}", f"final.average={average}"]
        run_stage(make_cfg(*run, "stage=final", "final.lawa_every=5", "final.lawa_count=2"))
        results[average] = json.loads((run_dir / "final/stratified/seed-0/result.json").read_text())
        results[average]["model"] = torch.load(run_dir / "final/model.pt", weights_only=True)["state_dict"]
    plain = results["none"]["history"][-1]
    for average in ("ema", "lawa"):
        last = results[average]["history"][-1]
        assert last["alternatives"]["raw"]["documents"] == plain["documents"]  # the raw weights scored as without it
        assert last["documents"] != plain["documents"]  # and the average is another model
        other = "lawa" if average == "ema" else "ema"
        assert set(last["alternatives"]) == {"raw", other}
        assert all(torch.equal(results[average]["model"][k], v) for k, v in results["none"]["model"].items())
