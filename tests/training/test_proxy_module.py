"""The proxy module's safeguards: non-finite steps, absent domains, collapse warnings —
and its parts: domain-weight state, live and cached reference scoring."""

import math

import torch

from doremi.config.settings import DroSettings
from doremi.methods.doremi.parts import DomainWeights, ReferenceScorer
from doremi.methods.doremi.proxy import ProxyModule
from doremi.training.model.gpt import GPT, GPTConfig

MODEL = {"vocab_size": 16, "seq_len": 4, "n_layer": 1, "n_head": 1, "d_model": 8}
OPTIM = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.0, "warmup_steps": 0, "min_lr_ratio": 0.1}
DRO = dict(eta=1.0, smoothing=1e-3, init="uniform", normalize="domain", clip="token", sampling="reweight")
COLLAPSE = dict(burn_in=0.0, warm_start=0, collapse_weight=0.95, collapse_entropy=0.2, collapse_steps=50)


def module(cache=None, **kwargs):
    settings = DroSettings(**{**DRO, **COLLAPSE, **kwargs})
    weights = DomainWeights(["a", "b", "c"], settings, None)
    return ProxyModule(GPT(GPTConfig(**MODEL)), OPTIM, 10, weights, ReferenceScorer(GPT(GPTConfig(**MODEL)), cache))


def part(domains):
    n = len(domains)
    tokens = torch.randint(0, 16, (n, 5))
    return {"input": tokens[:, :-1], "target": tokens[:, 1:], "domain": torch.tensor(domains), "chunk": torch.arange(n)}


def test_non_finite_step_leaves_weights_and_counts_it():
    proxy = module()
    state = proxy.domain_weights
    batch = part([0, 1, 2])
    before = state.weights.clone()
    losses = torch.full((3, 4), float("nan"))
    assert proxy.update_domain_weights([batch], [losses]) is False
    assert torch.equal(state.weights, before) and int(state.steps) == 0 and int(state.skipped) == 1
    assert float(state.weight_sum.sum()) == 0


def test_absent_domain_keeps_its_excess_and_is_counted():
    proxy = module()
    state = proxy.domain_weights
    state.last_excess.copy_(torch.tensor([0.0, 0.7, 0.0], dtype=torch.float64))
    assert proxy.update_domain_weights([part([0, 2])], [torch.full((2, 4), 9.0)])
    assert state.last_excess[1] == 0.7 and state.absent.tolist() == [0, 1, 0]
    assert proxy.last_record["step"] == 1 and math.isfinite(proxy.last_record["loss"])


class ZeroCache:
    """A reference-loss cache holding 0 for every row of domains 0 and 2, nothing for domain 1."""

    def lookup(self, domains, chunks):
        return None if (domains == 1).any() else torch.zeros(len(domains), 4)


def test_cached_reference_is_read_where_it_has_the_rows_and_computed_where_not():
    scorer = module(ZeroCache()).reference
    assert torch.equal(scorer(part([0, 2])), torch.zeros(2, 4))
    live = scorer(part([1, 1]))
    assert live.shape == (2, 4) and float(live.min()) > 0  # the model's own losses, not the cache's zeros
    scorer.train()
    assert not scorer.model.training  # the reference never leaves eval mode


def test_collapse_warnings_name_the_domain_and_remedies(capsys):
    proxy = module(ZeroCache(), collapse_steps=3)
    batch = part([0, 2, 0])
    for _ in range(4):  # domain "a" is 50 nats worse than the reference: its weight takes over
        proxy.update_domain_weights([batch], [torch.tensor([[50.0] * 4, [0.0] * 4, [0.0] * 4])])
    err = capsys.readouterr().err
    assert "weight of 'a'" in err and "dro.eta" in err
    assert "entropy" in err and int(proxy.domain_weights.low_entropy) == 4
    assert err.count("weight of 'a'") == 1  # warned once, not every step
