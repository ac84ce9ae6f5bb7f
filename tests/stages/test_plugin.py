"""Methods added as plug-ins. A fixed one is one module (here, this test's) and one registry entry; an online
one with its own settings section and report section is one folder (tests/toy_online, laid out as a method of
doremi/methods/ is) and one registry entry, and runs through stage=compare and stage=report without either
knowing its name."""

import json

import numpy as np
import pytest

from doremi import methods
from doremi.config import schema
from doremi.methods import Method
from doremi.methods.common import mixture_for
from doremi.stages import run_stage
from tests import toy_online
from tests.conftest import domains_override, synthetic_domains


def learn_half(ctx):
    k = len(ctx.data.domains)
    return mixture_for(ctx, [0.5] + [0.5 / (k - 1)] * (k - 1), {"cost": {"flops": 0.0, "what": "none"}})


@pytest.fixture
def plugged(monkeypatch):
    """The registry with the two toys, each one line, and the schema with the sections they bring."""
    registry = methods._registry
    built = []
    online = Method(**{**toy_online.METHOD.__dict__, "online": lambda s: built.append(toy_online.FavourLast(s)) or built[-1]})  # fmt: skip
    toys = {"toy_half": Method("toy_half", "half the weight on the first domain", learn_half), "toy_online": online}
    monkeypatch.setattr(methods, "_registry", lambda: {**registry(), **toys})
    schema.register(methods.sections())
    yield built
    monkeypatch.undo()
    schema.register(methods.sections())


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
