"""The stage table and the method registry name only artifacts that exist, and every stage declares its inputs."""

import importlib

import pytest

from doremi.config.errors import DoremiError
from doremi.methods import known, resolve
from doremi.pipeline.graph import ARTIFACTS, TABLE, locate, names, require
from doremi.stages.run import RECIPES


def test_every_stage_and_method_names_known_artifacts(make_cfg):
    cfg = make_cfg("compare.methods=[doremi,regmix,odm]")
    for stage in TABLE.values():
        assert set(names(stage.inputs, cfg)) <= set(ARTIFACTS), stage.name
        assert set(stage.artifacts) <= set(ARTIFACTS), stage.name
        assert callable(importlib.import_module(RECIPES[stage.name]).run), stage.name
    for name in known():
        method = resolve(name)
        assert set(method.inputs) <= set(ARTIFACTS), name
    assert {a.stage for a in ARTIFACTS.values()} <= set(TABLE)


def test_the_learned_mixture_is_read_through_one_accessor(tmp_path, make_cfg):
    cfg = make_cfg("method=unimax")
    assert locate(cfg, "learned_mixture") == tmp_path / "run" / "learn" / "unimax" / "mixture.json"
    with pytest.raises(
        DoremiError, match=r"stage=final reads .*learn/unimax/mixture.json .* run stage=learn method=unimax"
    ):
        require(cfg, "learned_mixture", "final")
    # a bare stage=proxy run still serves method=doremi
    (tmp_path / "run" / "proxy").mkdir(parents=True)
    (tmp_path / "run" / "proxy" / "done.json").write_text("{}")
    (tmp_path / "run" / "proxy" / "mixture.json").write_text("{}")
    assert require(make_cfg(), "learned_mixture", "final") == tmp_path / "run" / "proxy" / "mixture.json"


@pytest.mark.parametrize(
    "settings, model",
    [
        (["sft.method=ifd"], "final_model"),  # scores with sft.base
        (["sft.method=ifd", "sft.base=reference"], "reference_model"),
        (["sft.method=learned", "sft.learn.base=final"], "final_model"),  # learns quotas from sft.learn.base
        (["sft.mixture=learned", "sft.learn.base=reference"], "reference_model"),  # the older spelling
    ],
)
def test_sft_mix_fingerprints_the_model_its_method_reads(make_cfg, settings, model):
    """A changed base model makes stage=sft_mix stale whenever its method reads one (it did only for
    sft.mixture=learned); lima and quality (a classifier, no forward pass) read none."""
    assert model in names(TABLE["sft_mix"].inputs, make_cfg(*settings))
    assert names(TABLE["sft_mix"].inputs, make_cfg("sft.method=lima")) == ()
