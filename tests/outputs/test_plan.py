"""Planning the real run's mixture: known answers of the KL-closest feasible mixture."""

import math

import numpy as np
import pytest

from doremi.config.errors import DoremiError
from doremi.outputs.plan import plan, training_flops

LEARNED = {"web": 0.5, "code": 0.3, "books": 0.2}


def test_no_binding_constraint_returns_the_learned_weights():
    out = plan(LEARNED, {"web": 1e9, "code": 1e9, "books": 1e9}, budget=1e9)
    assert out.weights == pytest.approx(LEARNED, abs=1e-12) and out.binding == {} and out.kl == pytest.approx(0)
    assert out.epochs == pytest.approx({"web": 0.5, "code": 0.3, "books": 0.2})


def test_a_domain_capped_by_its_tokens_gets_exactly_the_cap_and_the_rest_keep_their_ratio():
    # books has 1e8 tokens; 4 epochs of it is 4e8 tokens = 0.04 of a 1e10 budget (learned: 0.2)
    out = plan(LEARNED, {"web": 1e10, "code": 1e10, "books": 1e8}, budget=1e10, max_epochs=4)
    assert out.weights["books"] == pytest.approx(0.04, abs=1e-12)
    assert out.epochs["books"] == pytest.approx(4.0)
    assert out.weights["web"] / out.weights["code"] == pytest.approx(0.5 / 0.3, rel=1e-12)
    assert sum(out.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert out.weights["web"] == pytest.approx(0.96 * 0.5 / 0.8, abs=1e-12)
    assert out.binding == {"books": "max_epochs"}


def test_the_result_is_the_kl_minimizer_among_feasible_mixtures():
    rng = np.random.default_rng(0)
    available = {"web": 1e10, "code": 2e8, "books": 1e8}
    out = plan(LEARNED, available, budget=1e10, max_epochs=4, min_weight=0.01)
    q = np.array(list(LEARNED.values()))
    caps = np.array([min(1.0, 4 * a / 1e10) for a in available.values()])
    best = out.kl
    for _ in range(2000):  # random feasible mixtures are never closer
        w = rng.dirichlet(np.ones(3))
        if (w <= caps).all() and (w >= 0.01).all():
            assert np.sum(w * np.log(w / q)) >= best - 1e-12


def test_pinned_weights_stay_and_infeasible_constraints_are_named():
    out = plan(LEARNED, {"web": 1e10, "code": 1e10, "books": 1e10}, budget=1e9, pinned={"code": 0.1})
    assert out.weights["code"] == pytest.approx(0.1) and out.binding["code"] == "pinned"
    assert out.weights["web"] / out.weights["books"] == pytest.approx(2.5)
    with pytest.raises(DoremiError, match="max_epochs"):
        plan(LEARNED, {"web": 1e6, "code": 1e6, "books": 1e6}, budget=1e9, max_epochs=4)
    with pytest.raises(DoremiError, match="pinned"):
        plan(LEARNED, {"web": 1e10, "code": 1e10, "books": 1e10}, budget=1e9, pinned={"code": 0.7, "web": 0.5})


def test_training_flops_count_forward_and_backward():
    assert training_flops(10**6, 10**9) == 6e15
    assert math.isclose(training_flops(10**6, 10**9, forward_only_parameters=10**6), 8e15)
