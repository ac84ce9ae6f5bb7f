"""The proxy module's safeguards: non-finite steps, absent domains, collapse warnings."""

import math

import torch

from doremi.lit.proxy import ProxyModule

MODEL = {"vocab_size": 16, "seq_len": 4, "n_layer": 1, "n_head": 1, "d_model": 8}
OPTIM = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.0, "warmup_steps": 0, "min_lr_ratio": 0.1}


def module(**kwargs):
    return ProxyModule(MODEL, ["a", "b", "c"], OPTIM, 10, eta=1.0, smoothing=1e-3, **kwargs)


def part(domains):
    n = len(domains)
    tokens = torch.randint(0, 16, (n, 5))
    return {"input": tokens[:, :-1], "target": tokens[:, 1:], "domain": torch.tensor(domains), "chunk": torch.arange(n)}


def test_non_finite_step_leaves_weights_and_counts_it():
    proxy = module()
    batch = part([0, 1, 2])
    before = proxy.weights.clone()
    losses = torch.full((3, 4), float("nan"))
    assert proxy.update_domain_weights([batch], [losses]) is False
    assert torch.equal(proxy.weights, before) and int(proxy.dro_steps) == 0 and int(proxy.skipped_steps) == 1
    assert float(proxy.weight_sum.sum()) == 0


def test_absent_domain_keeps_its_excess_and_is_counted():
    proxy = module()
    proxy.last_excess.copy_(torch.tensor([0.0, 0.7, 0.0], dtype=torch.float64))
    assert proxy.update_domain_weights([part([0, 2])], [torch.full((2, 4), 9.0)])
    assert proxy.last_excess[1] == 0.7 and proxy.absent_domains.tolist() == [0, 1, 0]
    assert proxy.last_record["step"] == 1 and math.isfinite(proxy.last_record["loss"])


def test_collapse_warnings_name_the_domain_and_remedies(capsys):
    proxy = module(collapse_steps=3)
    batch = part([0, 1, 2])
    proxy.reference_losses = lambda p: torch.zeros(len(p["domain"]), 4)
    for _ in range(4):  # domain "a" is 50 nats worse than the reference: its weight takes over
        proxy.update_domain_weights([batch], [torch.tensor([[50.0] * 4, [0.0] * 4, [0.0] * 4])])
    err = capsys.readouterr().err
    assert "weight of 'a'" in err and "dro.eta" in err
    assert "entropy" in err and int(proxy.low_entropy_steps) == 4
    assert err.count("weight of 'a'") == 1  # warned once, not every step
