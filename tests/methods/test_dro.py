"""The DoReMi update against a direct NumPy transcription of Algorithm 1 (DESIGN.md)."""

import numpy as np
import torch

from doremi.methods.doremi import dro


def numpy_step(prev_weights, prev_excess, proxy_loss, ref_loss, domain_ids, mask, eta, c):
    """Algorithm 1, one step, written out loop by loop."""
    k = len(prev_weights)
    excess = prev_excess.copy()
    for i in range(k):
        values = []
        for row in range(proxy_loss.shape[0]):
            if domain_ids[row] != i:
                continue
            for col in range(proxy_loss.shape[1]):
                if mask[row, col]:
                    values.append(max(float(proxy_loss[row, col]) - float(ref_loss[row, col]), 0.0))
        if values:  # a domain with no tokens keeps its previous excess
            excess[i] = sum(values) / len(values)
    logits = np.log(prev_weights) + eta * excess
    unnormalized = np.exp(logits - logits.max())
    weights = (1 - c) * unnormalized / unnormalized.sum() + c / k
    return weights, excess


def torch_step(prev_weights, prev_excess, proxy_loss, ref_loss, domain_ids, mask, eta, c):
    k = len(prev_weights)
    sums, counts = dro.excess_loss_sums(
        torch.tensor(proxy_loss), torch.tensor(ref_loss), torch.tensor(domain_ids), k, torch.tensor(mask)
    )
    excess = dro.domain_excess(sums, counts, torch.tensor(prev_excess))
    weights = dro.update_weights(torch.tensor(prev_weights), excess, eta, c)
    return weights.numpy(), excess.numpy()


def test_update_matches_numpy_transcription_with_absent_domain_and_masked_tokens():
    rng = np.random.default_rng(0)
    k, batch, seq = 5, 12, 7
    eta, c = 1.0, 1e-3
    weights_np = weights_torch = np.full(k, 1 / k)
    excess_np = excess_torch = np.zeros(k)
    for step in range(30):
        # domain 3 is absent from every third step; some tokens are masked out
        choices = [0, 1, 2, 4] if step % 3 == 0 else list(range(k))
        domain_ids = rng.choice(choices, size=batch)
        proxy_loss = rng.gamma(2.0, 1.0, size=(batch, seq)).astype(np.float32)
        ref_loss = rng.gamma(2.0, 1.0, size=(batch, seq)).astype(np.float32)
        mask = rng.random((batch, seq)) > 0.2
        weights_np, excess_np = numpy_step(weights_np, excess_np, proxy_loss, ref_loss, domain_ids, mask, eta, c)
        weights_torch, excess_torch = torch_step(
            weights_torch, excess_torch, proxy_loss, ref_loss, domain_ids, mask, eta, c
        )
        np.testing.assert_allclose(excess_torch, excess_np, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(weights_torch, weights_np, rtol=1e-9, atol=1e-12)
        assert abs(weights_torch.sum() - 1) < 1e-12
        assert (weights_torch >= c / k - 1e-15).all()
    assert step > 0


def test_absent_domain_keeps_previous_excess():
    sums = torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64)
    counts = torch.tensor([4.0, 0.0, 3.0], dtype=torch.float64)
    previous = torch.tensor([9.0, 0.7, 9.0], dtype=torch.float64)
    assert dro.domain_excess(sums, counts, previous).tolist() == [0.5, 0.7, 1.0]


def test_weights_stay_on_simplex_above_floor_under_extreme_excess():
    k, c = 4, 1e-3
    weights = dro.initial_weights(k)
    for _ in range(50):
        weights = dro.update_weights(weights, torch.tensor([50.0, 0.0, 0.0, 0.0]), eta=1.0, smoothing=c)
        assert torch.isfinite(weights).all()
        assert abs(float(weights.sum()) - 1) < 1e-12
        assert float(weights.min()) >= c / k - 1e-15
    assert float(weights[0]) > 0.99


def test_clipping_is_per_token_before_averaging():
    proxy = torch.tensor([[3.0, 1.0]])
    ref = torch.tensor([[1.0, 3.0]])  # per-token excess +2 and -2: clipped mean is 1, not 0
    sums, counts = dro.excess_loss_sums(proxy, ref, torch.tensor([0]), 1)
    assert float(sums[0] / counts[0]) == 1.0


def test_weighted_objective_is_weighted_mean_of_domain_means_and_sums_over_shards():
    loss = torch.tensor([[1.0, 3.0], [5.0, 5.0], [2.0, 2.0]])
    domains = torch.tensor([0, 1, 0])
    weights = torch.tensor([0.25, 0.75], dtype=torch.float64)
    expected = 0.25 * (1 + 3 + 2 + 2) / 4 + 0.75 * 5.0
    assert torch.isclose(dro.weighted_objective(loss, domains, weights), torch.tensor(expected))
    # two "processes" holding rows {0,1} and {2}, with the global token counts
    counts = torch.tensor([4.0, 2.0])
    shards = dro.weighted_objective(loss[:2], domains[:2], weights, counts) + dro.weighted_objective(
        loss[2:], domains[2:], weights, counts
    )
    assert torch.isclose(shards, torch.tensor(expected))


def test_variants_token_pooled_normalization_and_domain_clipping():
    # domain 0: two tokens with differences +3 and -1; domain 1: one token with difference -2
    proxy = torch.tensor([[4.0, 1.0], [1.0, 1.0]])
    reference = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    ids = torch.tensor([0, 1])
    mask = torch.tensor([[True, True], [True, False]])
    prev = torch.zeros(2, dtype=torch.float64)

    sums, counts = dro.excess_loss_sums(proxy, reference, ids, 2, mask)
    assert dro.domain_excess(sums, counts, prev).tolist() == [1.5, 0.0]  # paper: clip per token, / own tokens
    assert dro.domain_excess(sums, counts, prev, normalize="tokens").tolist() == [1.0, 0.0]  # / all 3 tokens

    raw, counts = dro.excess_loss_sums(proxy, reference, ids, 2, mask, clip="domain")
    assert dro.domain_excess(raw, counts, prev, clip="domain").tolist() == [1.0, 0.0]  # mean(+3, -1), max(-2, 0)
    pooled = dro.domain_excess(raw, counts, prev, normalize="tokens", clip="domain")
    assert pooled.tolist() == [2 / 3, 0.0]


def test_resampled_objective_is_the_plain_mean_and_sums_over_shards():
    loss = torch.tensor([[1.0, 3.0], [5.0, 5.0], [2.0, 2.0]], requires_grad=True)
    whole = dro.resampled_objective(loss, 6)
    assert torch.isclose(whole, loss.mean())
    shards = dro.resampled_objective(loss[:2], 6) + dro.resampled_objective(loss[2:], 6)
    assert torch.isclose(shards, whole)
    whole.backward()
    assert torch.allclose(loss.grad, torch.full_like(loss, 1 / 6))  # every token counts alike: no alpha weighting
