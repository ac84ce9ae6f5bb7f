"""stage=plan end to end: a learned mixture made feasible for a larger run, with the search's cost."""

import json

import pytest

from doremi.errors import DoremiError
from doremi.mixture import load_mixture
from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains


@pytest.fixture
def learned(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=100, seed=6)
    overrides = [domains_override(files), "trainer.max_steps=4", "checkpoint.every=0"]
    for stage in ("prepare", "reference", "proxy"):
        run_stage(make_cfg(*overrides, f"stage={stage}"))
    return overrides


def test_plan_caps_a_small_domain_and_states_the_cost(tmp_path, make_cfg, learned):
    weights = load_mixture(tmp_path / "mixtures" / "demo.json")
    available = {"prose": 10**9, "numbers": 10**6}
    (tmp_path / "tokens.json").write_text(json.dumps(available))
    budget = 10**8  # numbers: at most 4 epochs of 1e6 tokens = 0.04 of the budget
    run_stage(
        make_cfg(
            *learned,
            "stage=plan",
            f"plan.token_budget={budget}",
            f"plan.available={tmp_path / 'tokens.json'}",
            "plan.target_params=100000000",
        )
    )
    planned = json.loads((tmp_path / "mixtures" / "demo-plan.json").read_text())
    assert planned["weights"]["numbers"] == pytest.approx(0.04, abs=1e-12) and weights["numbers"] > 0.04
    assert planned["weights"]["prose"] == pytest.approx(0.96, abs=1e-12)
    provenance = planned["provenance"]
    assert provenance["binding"] == {"numbers": "max_epochs"} and provenance["epochs"]["numbers"] == pytest.approx(4)
    assert provenance["learned"] == pytest.approx(weights)
    cost = provenance["cost"]
    assert cost["flops"] == pytest.approx(cost["reference_flops"] + cost["proxy_flops"])
    assert cost["share_of_target"] == pytest.approx(cost["flops"] / (6 * 10**8 * budget))
    # a planned mixture is a normal mixture file: exports and final.mixture take it
    assert load_mixture(tmp_path / "mixtures" / "demo-plan.json") == pytest.approx(planned["weights"])


def test_plan_without_a_feasible_mixture_names_the_constraint(tmp_path, make_cfg, learned):
    with pytest.raises(DoremiError, match="max_epochs"):
        run_stage(make_cfg(*learned, "stage=plan", "plan.token_budget=1000000000000", "plan.max_epochs=1"))
