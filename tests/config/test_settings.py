"""Settings checked at the door: one error naming the key, before any stage reads a file or trains."""

import pytest

from doremi.config.errors import DoremiError
from doremi.stages import run_stage
from doremi.stages.cli import compose_checked
from tests.conftest import TINY
from tests.test_cli import run_cli

BAD = [
    ("dro.eta=abc", "dro.eta=abc"),
    ("dro.eta=-1", "dro.eta=-1"),
    ("dro.eta=nan", "dro.eta=nan"),
    ("dro.smoothing=1.5", "dro.smoothing=1.5"),
    ("dro.burn_in=1", "dro.burn_in=1"),
    ("dro.warm_start=20", "dro.warm_start=20"),  # TINY's proxy runs 20 steps
    ("proxy.max_steps=0", "proxy.max_steps=0"),
    ("trainer.max_steps=0", "trainer.max_steps=0"),
    ("reference.batch_size=-4", "reference.batch_size=-4"),
    ("final.eval_every=0", "final.eval_every=0"),
    ("final.seeds=0", "final.seeds=0"),
    ("proxy.seeds=[1,1]", "proxy.seeds"),
    ("data.val_fraction=1.5", "data.val_fraction=1.5"),
    ("model.n_head=3", "model.n_head=3"),
    ("name=..", "name='..'"),
    ("name=", "name=''"),
    ("name=../../escaped", "name='../../escaped'"),
]


@pytest.mark.parametrize("override, named", BAD)
def test_a_bad_setting_is_one_error_naming_the_key_before_any_work(tmp_path, override, named):
    base = [
        f"run_dir={tmp_path / 'run'}",
        f"mixtures_dir={tmp_path / 'mixtures'}",
        f"reports_dir={tmp_path / 'reports'}",
    ]
    with pytest.raises(DoremiError, match=named.replace("[", r"\[").replace(".", r"\.")):
        run_stage(compose_checked([*base, *TINY, override]))
    assert not (tmp_path / "run").exists()  # nothing was written: no stage started
    assert not (tmp_path / "reports").exists() and not (tmp_path / "mixtures").exists()


def test_the_command_line_prints_one_line_and_exits_2(tmp_path):
    result = run_cli(tmp_path, "dro.eta=abc")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: dro.eta=abc: expected a number"]
    assert not (tmp_path / "runs").exists()  # refused before Hydra made its folder


def test_a_feature_without_its_extra_is_one_line_naming_the_extra(monkeypatch):
    import sys

    import pytest

    from doremi.config.errors import DoremiError
    from doremi.config.extras import needs

    monkeypatch.setitem(sys.modules, "peft", None)  # as if the sft extra were not installed
    with pytest.raises(
        DoremiError, match=r'^sft.lora \(LoRA\) needs peft, which is not installed: pip install "doremi-mix\[sft\]"$'
    ):
        needs("peft", "sft", "sft.lora (LoRA)")
    assert needs("json", "sft", "anything").dumps  # an installed module comes back
