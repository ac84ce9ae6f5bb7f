"""The checks that tell a user when learned weights should not be trusted (doremi.methods.doremi.diagnostics)."""

import math

import numpy as np

from doremi.methods.doremi import diagnostics

DOMAINS = ["code", "prose", "math"]


def test_unigram_entropy_of_equally_frequent_tokens_is_log_of_their_number():
    assert abs(diagnostics.unigram_entropy(np.array([0, 1, 2, 3] * 10), vocab_size=8) - math.log(4)) < 1e-12


def test_weak_reference_names_the_domain_near_its_unigram_entropy():
    entropy = {"code": 3.0, "prose": 3.0, "math": 3.0}
    assert diagnostics.weak_reference({"code": 2.0, "prose": 2.2, "math": 2.1}, entropy, 0.05) is None
    warning = diagnostics.weak_reference({"code": 2.0, "prose": 2.95, "math": 2.1}, entropy, 0.05)
    assert "'prose'" in warning and "'code'" not in warning and "reference.max_steps" in warning


def steady(steps=200):
    return np.tile([0.5, 0.3, 0.2], (steps, 1))


def test_a_steady_trajectory_has_the_fair_share_and_no_warning():
    share, _ = diagnostics.transient_share(steady())
    assert abs(share - 0.1) < 1e-9
    assert diagnostics.transient_warning(steady(), DOMAINS, 0.3) is None


def test_a_warm_up_swing_dominating_the_average_is_named():
    weights = np.tile([1 / 3, 1 / 3, 1 / 3], (200, 1))
    weights[:20] = [0.02, 0.02, 0.96]  # the first 10% of steps on 'math', uniform afterwards
    share, domain = diagnostics.transient_share(weights)
    assert share > 0.99 and DOMAINS[domain] == "math"
    warning = diagnostics.transient_warning(weights, DOMAINS, 0.3)
    assert "'math'" in warning and "dro.burn_in" in warning


def test_seeds_that_disagree_are_named_with_the_domain_that_varies_most():
    agree = np.array([[0.5, 0.3, 0.2], [0.51, 0.29, 0.2]])
    assert diagnostics.seeds_warning(agree, DOMAINS, 0.1) is None
    apart = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    distance, spread = diagnostics.seed_disagreement(apart)
    assert abs(distance - 0.6) < 1e-12 and spread[1] == 0
    warning = diagnostics.seeds_warning(apart, DOMAINS, 0.1)
    assert "0.600" in warning and ("'code'" in warning or "'math'" in warning)
