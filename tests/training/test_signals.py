"""A SIGTERM that lands after the stage's own check of a step (the window where Lightning's handler would
end the run with SystemExit 0) still ends it our way: a checkpoint at the end of the next step, Stopped."""

import os
import signal

import pytest
import pytorch_lightning as pl
import torch

from doremi.store import runtime
from doremi.training.callbacks import Checkpoints


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def on_train_batch_end(self, outputs, batch, batch_idx):  # runs after every callback's hook of the step
        if self.trainer.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_sigterm_after_the_steps_check_still_ends_with_a_checkpoint_and_stopped(tmp_path):
    previous = signal.signal(signal.SIGTERM, runtime.on_signal)
    try:
        trainer = pl.Trainer(
            max_steps=20, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[Checkpoints(tmp_path, every=100, keep=2)],
        )  # fmt: skip
        data = torch.utils.data.DataLoader(torch.randn(64, 4), batch_size=2)
        with pytest.raises(runtime.Stopped) as stop:
            trainer.fit(Tiny(), data)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.where.update(training=False, signal=None)
    assert stop.value.signum == signal.SIGTERM
    assert sorted(p.name for p in tmp_path.glob("step-*.ckpt")) == ["step-00000004.ckpt"]


def test_a_stage_stopped_inside_another_is_the_one_the_line_names(make_cfg, monkeypatch):
    """stage=all runs learn, which runs reference and proxy: a signal during proxy names proxy, not an outer stage."""
    from doremi.__main__ import stopped_line
    from doremi.stages import proxy, run_stage

    def stopped(cfg, **kwargs):
        raise runtime.Stopped(signal.SIGTERM)

    monkeypatch.setattr(proxy, "run", stopped)
    monkeypatch.setitem(runtime.where, "stage", None)
    with pytest.raises(runtime.Stopped):
        run_stage(make_cfg("stage=all"))
    assert stopped_line(signal.SIGTERM).startswith("error: stopped by SIGTERM during stage=proxy;")
