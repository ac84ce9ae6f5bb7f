"""Table-driven, from the schema (doremi.config.schema): every setting given a wrong type, an out-of-range value and an
empty value on the command line is one DoremiError naming that key, raised while the config is composed and
checked (doremi.stages.cli.compose_checked and apply), before any stage runs or any folder is made."""

import typing

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from doremi.config.errors import DoremiError
from doremi.config.settings import check, fields
from doremi.stages.cli import apply, compose_checked

NUMBERS = (int, float, int | float)


def kind(hint):
    """The schema type without Optional, and whether null is allowed."""
    args = set(typing.get_args(hint))
    if typing.get_origin(hint) is typing.Union and type(None) in args:
        rest = tuple(args - {type(None)})
        return (rest[0] if len(rest) == 1 else rest[0] | rest[1]), True
    return hint, False


def cases():
    out = []
    for key, f, hint in fields():
        base, optional = kind(hint)
        bounds, choices = f.metadata.get("bounds") or {}, f.metadata.get("choices")
        if base in NUMBERS or base is bool:
            out.append((key, "abc"))
        if base is int:
            out.append((key, "2.5"))
        if not optional and (base in NUMBERS or base is bool):
            out.append((key, "null"))
        if "ge" in bounds or "gt" in bounds:
            out.append((key, str(bounds.get("ge", bounds.get("gt")) - 1)))
        if "le" in bounds or "lt" in bounds:
            out.append((key, str(bounds.get("le", bounds.get("lt")) + 1)))
        if choices:
            out.append((key, "nonsense"))
        if typing.get_origin(base) is list:
            out.append((key, "word"))
    return out


def test_every_typed_setting_has_cases():
    keys = {key for key, _ in cases()}
    assert {"trainer.batch_size", "seed", "overwrite", "optim.lr", "final.baselines", "dro.normalize"} <= keys
    assert len(keys) > 100


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    return compose_checked([f"run_dir={tmp_path_factory.mktemp('keys') / 'run'}"])


@pytest.mark.parametrize("key, value", cases())
def test_a_bad_value_names_its_key(composed, key, value):
    """Each case is set as Hydra sets a command-line override (its own parser reads the value), into a copy of
    one composed config: the schema's type check, then the bounds and rules (doremi.stages.cli.apply, settings.check)."""
    override = OverridesParser.create().parse_override(f"{key}={value}")
    cfg = composed.copy()
    with pytest.raises(DoremiError, match=rf"^{key.replace('.', '[.]')}[=: ]"):
        apply(cfg, override.key_or_group, override.value())
        check(cfg)


@pytest.mark.parametrize("key, value", [("trainer.batch_size", "2.5"), ("optim.lr", "abc"), ("overwrite", "maybe"),
                                        ("final.baselines", "word"), ("dro.normalize", "nonsense"), ("seed", "-1")])  # fmt: skip
def test_the_command_line_refuses_them_before_anything_is_made(tmp_path, key, value):
    with pytest.raises(DoremiError, match=rf"^{key.replace('.', '[.]')}="):
        compose_checked([f"run_dir={tmp_path / 'run'}", f"{key}={value}"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optim.betas=[0.9]"], r"^optim\.betas=\[0\.9\]: expected two numbers"),
        (["optim.betas=[1.5,0.9]"], r"^optim\.betas="),
        (["sft.betas=[0.9,1]"], r"^sft\.betas="),
        (["optim.fused=maybe"], r"^optim\.fused=maybe"),
        (["trainer.devices=abc"], r"^trainer\.devices=abc"),
        (["trainer.devices=0"], r"^trainer\.devices=0"),
        (["final.seeds=0"], r"^final\.seeds=0"),
        (["proxy.seeds=[1,1]"], r"^proxy\.seeds="),
        (["resume=true"], r"^resume=True"),
        (["learn.target=5"], r"^learn\.target=5"),
        (["swarm.concentrations=[0,1]"], r"^swarm\.concentrations="),
        (["sft.filters.min_chars=5000"], r"^sft\.filters\.min_chars=5000 is above"),
        (["data.domains=abc"], r"^data\.domains=abc"),
        (["model.n_head=3"], r"^model\.n_head=3 does not divide"),
        (["model=hf", "model.hf_config=null"], r"^model=hf needs model\.hf_config"),
        (["tokenizer=pretrained"], r"^tokenizer=pretrained needs tokenizer\.path"),
        (["dro.warm_start=400"], r"^dro\.warm_start=400 leaves no Group DRO step"),
        (["model=nope"], r"^model=nope is not a preset; choose one of hf, hf-120m, hf-280m, mini, small, tiny$"),
        (["dro.etaa=0.5"], r"^dro\.etaa is not a setting \(closest: dro\.eta"),
        (["+dro.etaa=0.5"], r"^dro\.etaa is not a setting"),
        (["run_dir=${nope}"], r"^run_dir: Interpolation key 'nope' not found"),
        (["dro.eta=0.5,abc"], r"^dro\.eta=abc \(of the sweep dro\.eta=0\.5,abc\): expected a number"),
        (["swarm.index=range(0,3)", "swarm.runs=abc"], r"^swarm\.runs=abc"),
        (["name>"], r"^could not read the command line: .*name>"),
    ],
)
def test_rules_across_keys_and_sweeps_name_the_key(tmp_path, overrides, message):
    with pytest.raises(DoremiError, match=message):
        compose_checked([f"run_dir={tmp_path / 'run'}", *overrides])


def test_good_values_pass_and_keep_their_type(tmp_path):
    cfg = compose_checked([f"run_dir={tmp_path}", "dro.eta=1", "overwrite=no", "trainer.devices=[0]", "seed=7"])
    assert cfg.dro.eta == 1 and isinstance(cfg.dro.eta, int)  # kept as given: fingerprints as before the schema
    assert cfg.overwrite is False and cfg.seed == 7 and list(cfg.trainer.devices) == [0]


def test_the_old_name_prepare_from_still_works():
    from doremi.stages.cli import renamed

    assert renamed(["prepare.from=/x", "+prepare.from=/y", "seed=1"]) == [
        "prepare.reuse=/x",
        "+prepare.reuse=/y",
        "seed=1",
    ]
