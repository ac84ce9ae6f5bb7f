"""The sampler in other loops: plain PyTorch with workers, Lightning resume, Hugging Face Trainer."""

import warnings

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.data.loaders import MixtureDataModule, MixtureLoader, MixtureSequences, mixture_batches

WEIGHTS = [0.5, 0.3, 0.2]


def steps_and_domains(loader, n):
    out = []
    for _, batch in zip(range(n), loader):
        out.append((int(batch["step"]), batch["domain"].tolist(), batch["input"][:, 0].tolist()))
    return out


def test_workers_yield_the_same_batches_in_the_same_order(prepared):
    _, data = prepared
    plain = steps_and_domains(MixtureLoader(mixture_batches(data, WEIGHTS, 8, 0)), 12)
    workers = steps_and_domains(MixtureLoader(mixture_batches(data, WEIGHTS, 8, 0), num_workers=2), 12)
    assert [s for s, _, _ in plain] == list(range(12))
    assert workers == plain


def test_plain_loop_resumes_from_the_loader_state(prepared):
    _, data = prepared
    straight = steps_and_domains(MixtureLoader(mixture_batches(data, WEIGHTS, 8, 0)), 10)
    first = MixtureLoader(mixture_batches(data, WEIGHTS, 8, 0))
    steps_and_domains(first, 4)
    state = first.state_dict()
    resumed = MixtureLoader(mixture_batches(data, WEIGHTS, 8, 0))
    resumed.load_state_dict(state)
    assert steps_and_domains(resumed, 6) == straight[4:]
    other = MixtureLoader(mixture_batches(data, [0.2, 0.3, 0.5], 8, 0))
    with pytest.raises(DoremiError, match="weights"):
        other.load_state_dict(state)


class Recorder(pl.LightningModule):
    """A one-layer model that records the step and domains of every batch it trains on."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Embedding(300, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append((int(batch["step"]), batch["domain"].tolist()))
        return self.layer(batch["input"]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(data, tmp_path, max_steps, ckpt_path=None, every=None):
    callbacks = []
    if every:
        callbacks.append(pl.callbacks.ModelCheckpoint(tmp_path, every_n_train_steps=every, save_top_k=-1))
    trainer = pl.Trainer(
        max_steps=max_steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=bool(every),
        callbacks=callbacks,
    )
    module = Recorder()
    dm = MixtureDataModule(data, WEIGHTS, 8, seed=3)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module.seen, dm


def test_lightning_checkpoint_resumes_the_sampler_mid_epoch(prepared, tmp_path):
    _, data = prepared
    straight, dm = fit(data, tmp_path / "a", 10, every=4)
    assert [s for s, _ in straight] == list(range(10))
    ckpt = torch.load(tmp_path / "a" / "epoch=0-step=4.ckpt", weights_only=False)
    assert (
        ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["next_step"] == 4
    )  # not 5: prefetch is accounted
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed, _ = fit(data, tmp_path / "b", 10, ckpt_path=tmp_path / "a" / "epoch=0-step=4.ckpt")
    assert resumed == straight[4:]
    assert not [w for w in caught if "resum" in str(w.message).lower()]
    passes = dm.loader.passes()
    counts = np.array(data.chunk_counts("train"))
    np.testing.assert_allclose(passes * counts, np.array(WEIGHTS) * 80, atol=1)


def test_hugging_face_trainer_trains_on_the_sampler_batches(prepared, tmp_path):
    transformers = pytest.importorskip("transformers")
    _, data = prepared
    batches = mixture_batches(data, WEIGHTS, 8, 0)
    expected = [batches.make_batch(s, 0, 1) for s in range(3)]
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=300, n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=None, eos_token_id=None
        )
    )
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=MixtureSequences(batches))
    loader = trainer.get_train_dataloader()
    got = [b["input_ids"] for _, b in zip(range(6), loader)]
    for step in range(3):
        want = torch.cat([expected[step]["input"], expected[step]["target"][:, -1:]], dim=1)
        torch.testing.assert_close(torch.cat(got[2 * step : 2 * step + 2]), want)
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss)
