"""Pairing: under one seed every mixture starts from the same weights and reads each domain in the same order
(what makes a verdict's per-seed differences paired); another seed changes both."""

import pytorch_lightning as pl
import torch

from doremi.training.fitting import fit_lm


class Seen(pl.Callback):
    """The model's weights before the first step, and each domain's training rows in the order they came."""

    def __init__(self):
        self.initial, self.rows = None, {}

    def on_train_start(self, trainer, module):
        self.initial = {k: v.detach().clone() for k, v in module.model.state_dict().items()}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        for domain, chunk in zip(batch["domain"].tolist(), batch["chunk"].tolist()):
            self.rows.setdefault(domain, []).append(chunk)


def trained(cfg, data, tmp_path, weights, seed) -> Seen:
    seen = Seen()
    fit_lm(cfg, data, weights, cfg.final, tmp_path / f"{weights}-{seed}", "test", seed=seed, callbacks=[seen])
    return seen


def test_one_seed_shares_initial_weights_and_each_domains_order_across_mixtures(prepared, tmp_path):
    cfg, data = prepared
    a = trained(cfg, data, tmp_path, [0.6, 0.2, 0.2], seed=3)
    b = trained(cfg, data, tmp_path, [0.2, 0.2, 0.6], seed=3)
    other = trained(cfg, data, tmp_path, [0.6, 0.2, 0.2], seed=4)
    assert a.initial.keys() == b.initial.keys()
    assert all(torch.equal(a.initial[k], b.initial[k]) for k in a.initial)
    assert any(not torch.equal(a.initial[k], other.initial[k]) for k in a.initial)
    # each domain is read in one seeded order: the mixture that reads fewer of its chunks reads the first of
    # those the other reads (a batch's rows are shuffled, so the order within a batch is not compared)
    for domain in range(3):
        few, many = sorted([a.rows[domain], b.rows[domain]], key=len)
        assert 0 < len(few) <= len(many) and set(few) <= set(many)
        assert set(other.rows[domain][: len(few)]) != set(few)
    assert len(a.rows[0]) > len(b.rows[0]) and len(a.rows[2]) < len(b.rows[2])  # the mixtures do differ
