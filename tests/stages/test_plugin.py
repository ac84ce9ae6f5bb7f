"""Methods added as plug-ins through the public seam (`doremi.methods.register`, `doremi.sft.methods.register`,
or the `doremi.methods` / `doremi.sft_methods` entry-point groups). A fixed mixture method is one module (here,
this test's) and one registration; an online one with its own settings section and report section is one folder
(tests/toy_online, laid out as a method of doremi/methods/ is) and one registration, and runs through
stage=compare and stage=report without either knowing its name; an SFT set method with its own settings section
is one module and one registration too."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from doremi import methods
from doremi.config.fields import s
from doremi.methods import Method
from doremi.methods.common import mixture_for
from doremi.sft.methods import Selection, SetMethod
from doremi.stages import run_stage
from tests import toy_online
from tests.conftest import domains_override, synthetic_domains


def learn_half(ctx):
    k = len(ctx.data.domains)
    return mixture_for(ctx, [0.5] + [0.5 / (k - 1)] * (k - 1), {"cost": {"flops": 0.0, "what": "none"}})


@pytest.fixture
def plugged():
    """The two toys registered through the public seam (doremi.methods.register), which brings the online one's
    settings section into the schema; unregistered after the test."""
    built = []
    online = Method(**{**toy_online.METHOD.__dict__, "online": lambda s: built.append(toy_online.FavourLast(s)) or built[-1]})  # fmt: skip
    toys = [Method("toy_half", "half the weight on the first domain", learn_half), online]
    for toy in toys:
        methods.register(toy)
    yield built
    for toy in toys:
        methods.unregister(toy.name)


@pytest.mark.slow
def test_a_plugged_in_method_and_an_online_one_with_settings_and_report_run_through_compare(
    tmp_path, make_cfg, plugged
):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits", "more": "words"}, seed=1)
    base = [domains_override(files), "toy_online.every=4"]  # the toy's own setting, composed by Hydra
    run_stage(make_cfg(*base, "stage=prepare"))
    run_stage(make_cfg(*base, "stage=compare", "compare.methods=[toy_half,toy_online]", "compare.publish=false"))
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    rows = {r["method"]: r for r in board["rows"]}
    assert set(rows) == {"toy_half", "toy_online", "stratified", "natural"}
    assert rows["toy_half"]["weights"]["more"] == pytest.approx(0.5)  # domains in sorted order: more first
    # the online part ran inside the compare's training, at the step its settings section set
    schedule = [
        json.loads(x) for x in (tmp_path / "run/compare/toy_online/seed-0/schedule.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in schedule][0] == 0 and len(schedule) == 2 and schedule[1]["step"] == 5
    assert schedule[1]["weights"]["prose"] > 0.9  # the last domain in sorted order
    assert rows["toy_online"]["same_models_as"] is None  # never shares the stratified models
    # its probe came from the training split: rows of seq_len + 1 tokens, 2 per domain
    probe = plugged[0]
    assert probe.probe_rows.shape == (6, 33) and np.bincount(probe.probe_ids).tolist() == [2, 2, 2]
    # its report section, from its folder, in the report of its mixture
    run_stage(make_cfg(*base, "stage=report", "method=toy_online"))
    report = (tmp_path / "reports" / "demo" / "report.md").read_text()
    assert "## Toy schedule" in report and "at step 4." in report
    assert "Mixture **demo** from method toy_online over 3 domains" in report


def test_a_method_brings_its_settings_section_into_the_schema_and_the_checks(make_cfg, plugged):
    from doremi.config.errors import DoremiError
    from doremi.config.settings import check

    assert make_cfg("toy_online.every=7").toy_online.every == 7
    with pytest.raises(DoremiError, match=r"toy_online.sliver=0.7: expected a number in \(0, 0.5\)"):
        check(make_cfg("toy_online.sliver=0.7"))


@dataclass
class Shortest:
    """sft.shortest: the toy SFT set method's own settings section."""

    longest_chars: int = s(400, "responses longer than this are never kept", ge=1)


def shortest_set(ctx):
    kept = [ex for ex in ctx.everything() if len(ex.response) <= int(ctx.cfg.shortest.longest_chars)]
    return Selection(sorted(kept, key=lambda ex: (len(ex.response), ex.id))[: ctx.budget], {"fits": 0})


def test_an_sft_set_method_with_its_own_settings_section_plugs_in_through_the_public_seam(make_cfg):
    from doremi.config.errors import DoremiError
    from doremi.config.settings import check
    from doremi.sft import methods as sft_methods

    toy = SetMethod("shortest", "the shortest responses", shortest_set, settings=("shortest",),
                    sections=(("shortest", Shortest, "sft method=shortest"),))  # fmt: skip
    sft_methods.register(toy)
    try:
        assert sft_methods.resolve("shortest") is toy and "shortest" in sft_methods.known()
        assert [m.name for m in sft_methods.entries(["all"])][-1] == "shortest"
        assert make_cfg("shortest.longest_chars=9").shortest.longest_chars == 9  # its section, composed by Hydra
        with pytest.raises(DoremiError, match=r"shortest.longest_chars=0: expected a number in \[1, inf\)"):
            check(make_cfg("shortest.longest_chars=0"))
        with pytest.raises(DoremiError, match="already registered"):
            sft_methods.register(SetMethod("random", "another random", shortest_set))
    finally:
        sft_methods.unregister("shortest")
    assert "shortest" not in sft_methods.known()


def test_a_method_of_another_package_plugs_in_through_its_entry_point(tmp_path, monkeypatch):
    """A distribution declaring `doremi.methods = toy = toy_plugin:METHOD` (what `[project.entry-points]` of its
    pyproject.toml installs) is in the registry without any registration call."""
    import sys

    from doremi.config.registry import Registry

    (tmp_path / "toy_plugin.py").write_text(
        "from doremi.methods import Method\nMETHOD = Method('toy_entry', 'from an entry point', lambda ctx: None)\n"
    )
    info = tmp_path / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[doremi.methods]\ntoy = toy_plugin:METHOD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("mixture method", "doremi.methods", lambda: [])
    assert list(registry.all()) == ["toy_entry"] and registry.all()["toy_entry"].doc == "from an entry point"
    (info / "entry_points.txt").write_text("[doremi.methods]\ntoy = toy_plugin:MISSING\n")
    sys.modules.pop("toy_plugin", None)
    with pytest.raises(Exception, match="entry point toy .* does not load"):
        Registry("mixture method", "doremi.methods", lambda: []).all()
