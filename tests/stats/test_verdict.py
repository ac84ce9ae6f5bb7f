"""Known answers for the paired bootstrap verdicts (doremi.stats.verdict)."""

from statistics import NormalDist

import numpy as np

from doremi.stats import verdict

DOMAINS = ["a", "b", "c"]


def fake_sums(
    rng, seeds: int, docs_per_domain: int = 20, shift=(0.0, 0.0, 0.0), seed_noise: float = 0.0, evals: int = 3
):
    """Per-document loss sums (seeds, evals, docs) for documents of 50 tokens; loss falls over evaluations."""
    doc_domain = np.repeat(np.arange(3), docs_per_domain)
    doc_tokens = np.full(len(doc_domain), 50.0)
    base = 2.0 + 0.3 * rng.standard_normal(len(doc_domain))  # per-document difficulty, shared by mixtures
    return doc_domain, doc_tokens, base, np.asarray(shift), seed_noise, evals


def sums_for(rng, doc_domain, doc_tokens, base, shift, seed_noise, evals, seeds, offsets=None):
    per_seed = []
    for s in range(seeds):
        offset = seed_noise * (rng.standard_normal() if offsets is None else offsets[s])
        curve = [base + shift[doc_domain] + offset + 1.0 / (e + 1) for e in range(evals)]
        per_seed.append(np.stack(curve) * doc_tokens)
    return np.stack(per_seed)


def test_identical_mixtures_have_no_detectable_difference():
    rng = np.random.default_rng(0)
    doc_domain, doc_tokens, base, *_ = fake_sums(rng, 3)
    same = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.0, 3, seeds=3)
    result = verdict.compare({"cand": same, "base": same.copy()}, "cand", doc_domain, doc_tokens, [10, 20, 30], DOMAINS)
    c = result["baselines"]["base"]
    assert c["average"]["difference"] == 0 and c["average"]["interval"] == (0.0, 0.0)
    assert c["average"]["verdict"] == verdict.SAME and c["worst"]["verdict"] == verdict.SAME
    assert c["domains_better"] == c["domains_worse"] == 0
    assert c["speedup"]["factor"] == 1.0  # reaches the baseline's final loss exactly at the last step


def test_a_domain_left_behind_is_worse_there_and_others_unchanged():
    rng = np.random.default_rng(1)
    doc_domain, doc_tokens, base, *_ = fake_sums(rng, 3)
    baseline = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.0, 3, seeds=3)
    candidate = sums_for(rng, doc_domain, doc_tokens, base, np.array([0.0, 0.0, 0.5]), 0.0, 3, seeds=3)
    c = verdict.compare({"cand": candidate, "base": baseline}, "cand", doc_domain, doc_tokens, [10, 20, 30], DOMAINS)
    c = c["baselines"]["base"]
    assert c["domains"]["c"]["verdict"] == verdict.WORSE
    assert abs(c["domains"]["c"]["difference"] - 0.5) < 1e-9
    assert c["domains"]["a"]["verdict"] == verdict.SAME and c["domains_worse"] == 1
    assert c["average"]["verdict"] == verdict.WORSE
    # the worst domain's interval is the union of the domains' (valid near ties): its upper end sees c's loss
    assert c["worst"]["interval"][1] >= c["domains"]["c"]["interval"][1] > 0 and c["worst"]["verdict"] != verdict.BETTER
    assert c["speedup"]["factor"] is None  # never reaches the baseline's final average


def test_a_uniformly_better_mixture_is_better_and_faster():
    rng = np.random.default_rng(2)
    doc_domain, doc_tokens, base, *_ = fake_sums(rng, 3)
    baseline = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.01, 4, seeds=4)
    candidate = sums_for(rng, doc_domain, doc_tokens, base, np.full(3, -0.2), 0.01, 4, seeds=4)
    c = verdict.compare(
        {"cand": candidate, "base": baseline}, "cand", doc_domain, doc_tokens, [10, 20, 30, 40], DOMAINS
    )
    c = c["baselines"]["base"]
    assert c["average"]["verdict"] == verdict.BETTER and c["domains_better"] == 3
    assert c["speedup"]["verdict"] == "faster" and c["speedup"]["factor"] > 1


def test_interval_shrinks_as_seeds_are_added():
    widths = []
    for seeds in (2, 4, 8, 16):
        rng = np.random.default_rng(3)
        doc_domain, doc_tokens, base, *_ = fake_sums(rng, seeds, docs_per_domain=200)
        # training noise between seeds: the same spread for every number of seeds (normal quantiles)
        offsets = [NormalDist().inv_cdf((i + 0.5) / seeds) for i in range(seeds)]
        a = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.05, 3, seeds, offsets)
        b = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.05, 3, seeds, offsets[::-1])
        result = verdict.compare({"a": a, "b": b}, "a", doc_domain, doc_tokens, [1, 2, 3], DOMAINS)
        low, high = result["baselines"]["b"]["average"]["interval"]
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2] > widths[3]


def test_one_seed_says_its_interval_covers_sampling_only():
    rng = np.random.default_rng(4)
    doc_domain, doc_tokens, base, *_ = fake_sums(rng, 1)
    a = sums_for(rng, doc_domain, doc_tokens, base, np.zeros(3), 0.0, 2, 1)
    result = verdict.compare({"a": a, "b": a + 1.0}, "a", doc_domain, doc_tokens, [1, 2], DOMAINS)
    assert result["seeds"] == 1 and "one seed" in result["caveat"]
    assert verdict.caveat(5) is None


def test_steps_to_reach_interpolates_between_evaluations():
    steps = np.array([10.0, 20.0, 30.0])
    curve = np.array([[3.0, 2.0, 1.0], [3.0, 2.5, 2.4], [1.0, 0.5, 0.4]])
    reached = verdict.steps_to_reach(steps, curve, np.array([1.5, 2.0, 2.0]))
    assert reached[0] == 25.0  # halfway between 2.0 (step 20) and 1.0 (step 30)
    assert np.isnan(reached[1])
    assert reached[2] == 10.0
