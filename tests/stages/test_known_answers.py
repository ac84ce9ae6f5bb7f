"""DoReMi's weights on synthetic domains whose answer is known in advance."""

import json

import pytest

from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains

SETTINGS = ["trainer.max_steps=60", "trainer.batch_size=24", "final.baselines=[]", "stage=proxy"]


def learned(tmp_path, make_cfg, files, *extra):
    for stage in ("prepare", "reference", "proxy"):
        run_stage(make_cfg(domains_override(files), *SETTINGS, f"stage={stage}", *extra))
    return json.loads((tmp_path / "run" / "proxy" / "mixture.json").read_text())["weights"]


@pytest.mark.slow
def test_identical_domains_get_equal_weights(tmp_path, make_cfg):
    # "twin_a" and "twin_b" hold the same documents; "numbers" is different
    files = synthetic_domains(tmp_path / "src", {"twin_a": "words", "twin_b": "words", "numbers": "digits"})
    weights = learned(tmp_path, make_cfg, files)
    assert abs(weights["twin_a"] - weights["twin_b"]) < 0.05, weights


@pytest.mark.slow
def test_domain_left_out_of_the_reference_loses_weight(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"})
    with_it = learned(tmp_path, make_cfg, files)
    reference_mix = tmp_path / "without_prose.json"
    reference_mix.write_text(json.dumps({"weights": {"numbers": 1.0, "prose": 0.0}}))
    without_it = learned(tmp_path, make_cfg, files, f"reference.mixture={reference_mix}", "overwrite=true")
    assert without_it["prose"] < with_it["prose"], (without_it, with_it)
