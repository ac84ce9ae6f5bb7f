"""Trials held to the rules stages follow: no write through a planted link, one process training a trial (a second
waits and reuses it), a record of what each trial wrote checked when it is read, compare inputs checked against
their producers' records and fingerprinted by content, and settings that would silently do nothing refused."""

from __future__ import annotations

import json
import threading
import time

import pytest

from doremi.config.errors import DoremiError
from doremi.stages import run_stage
from doremi.store.trials import finished, train_once
from tests.conftest import domains_override, synthetic_domains


def test_a_second_job_on_a_trial_waits_and_reuses_the_first_ones_result(tmp_path):
    where = tmp_path / "trials" / "m-seed-0-abc"
    calls = []

    def slow():
        calls.append(threading.current_thread().name)
        time.sleep(0.5)
        where.mkdir(parents=True, exist_ok=True)
        (where / "result.json").write_text(json.dumps({"seed": 0, "by": threading.current_thread().name}))
        return json.loads((where / "result.json").read_text())

    out = {}
    jobs = [
        threading.Thread(target=lambda n=n: out.__setitem__(n, train_once(tmp_path, where, slow)), name=n) for n in "ab"
    ]
    for job in jobs:
        job.start()
        time.sleep(0.1)
    for job in jobs:
        job.join()
    assert calls == ["a"] and out["a"] == out["b"] == {"seed": 0, "by": "a"}  # trained once, neither failed


def test_an_edited_or_unrecorded_trial_result_is_refused_in_one_line(tmp_path):
    where = tmp_path / "trials" / "m-seed-0-abc"

    def train():
        where.mkdir(parents=True)
        (where / "result.json").write_text('{"history": [{"documents": [2.0, 4.0]}]}')
        return {}

    train_once(tmp_path, where, train)
    assert finished(tmp_path, where) == {"history": [{"documents": [2.0, 4.0]}]}
    (where / "result.json").write_text('{"history": [{"documents": [1.0, 2.0]}]}')  # losses halved
    with pytest.raises(DoremiError, match=r"result.json is not the file its trial wrote .* delete .* and rerun"):
        finished(tmp_path, where)


@pytest.mark.parametrize("planted", ["trials", "trials/one"])
def test_a_trial_folder_planted_as_a_link_is_refused(tmp_path, planted):
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    (run / planted).parent.mkdir(parents=True, exist_ok=True)
    (run / planted).symlink_to(outside, target_is_directory=True)
    with pytest.raises(DoremiError, match="is a symbolic link; the tool writes nothing through one"):
        train_once(run, run / "trials" / "one", lambda: {})
    assert not any(outside.iterdir())


@pytest.fixture
def compared(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=60)
    mixture = tmp_path / "mine.json"
    mixture.write_text(json.dumps({"weights": {"prose": 0.7, "numbers": 0.3}}))
    args = [domains_override(files), f"compare.methods=[temperature,{mixture}]", "stage=compare"]
    run_stage(make_cfg(*args))
    return tmp_path, args, mixture


def test_compare_inputs_are_checked_against_their_records_and_fingerprinted_by_content(compared, make_cfg):
    root, args, mixture = compared
    run = root / "run"
    trained = {p: p.stat().st_mtime_ns for p in (run / "trials").rglob("result.json")}
    # a mixture file named in compare.methods, edited: the compare is stale, not reused with the old weights
    mixture.write_text(json.dumps({"weights": {"prose": 0.2, "numbers": 0.8}}))
    with pytest.raises(DoremiError, match=r"compare.methods files"):
        run_stage(make_cfg(*args))
    mixture.write_text(json.dumps({"weights": {"prose": 0.7, "numbers": 0.3}}))
    # the published recommendation, edited: never republished from it
    recommended = run / "compare" / "recommended.json"
    recommended.write_text(recommended.read_text().replace("0.", "0.0", 1))
    with pytest.raises(DoremiError, match=r"recommended.json is not the file stage=compare wrote"):
        run_stage(make_cfg(*args))
    # a learned mixture, edited: a compare does not judge it under the method's name
    learned = run / "learn" / "temperature" / "mixture.json"
    original = learned.read_text()
    learned.write_text(original.replace('"prose": 0.', '"prose": 0.0', 1))
    with pytest.raises(DoremiError, match=r"learn/temperature/mixture.json is not the file stage=learn wrote"):
        run_stage(make_cfg(*args[:-1], "stage=compare", "compare.publish=false"))
    learned.write_text(original)
    # raising final.seeds trains only the new seed: a trial is one (mixture, seed, settings)
    run_stage(make_cfg(*args, "overwrite=true", "final.seeds=2"))
    assert all(p.stat().st_mtime_ns == s for p, s in trained.items())
    assert len(list((run / "trials").glob("*-seed-1-*"))) == 4  # stratified, natural, temperature, mine


def test_a_domain_of_two_documents_gets_advice_that_works(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=60)
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text("".join(json.dumps({"text": f"document {i}: " + "some words " * 40}) + "\n" for i in range(2)))
    with pytest.raises(DoremiError, match=r"domain 'tiny' has 2 document\(s\).* give it 3 or more documents"):
        run_stage(make_cfg(domains_override({**files, "tiny": str(tiny)}), "data.val_fraction=1e-9", "stage=prepare"))


def test_aioli_settings_that_would_do_nothing_are_refused_and_its_probe_share_is_said(prepared, capsys):
    cfg, _ = prepared
    k = 3
    with pytest.raises(DoremiError, match=r"aioli.update_steps=50 is not below the run's 20 steps"):
        run_stage(_learn(cfg, "aioli.update_steps=50"))
    with pytest.raises(DoremiError, match=rf"aioli.one_hot_factor={1 / k:.4f}.* is \(close to\) 1/3"):
        run_stage(_learn(cfg, f"aioli.one_hot_factor={1 / k:.4f}", "aioli.update_steps=10"))
    run_stage(_learn(cfg, "aioli.update_steps=10", "aioli.lp_steps=2"))
    assert (
        "LearnParams sweeps take 1 x 3 domains x 2 steps of every 10: 60% of the final run" in capsys.readouterr().err
    )


def _learn(cfg, *overrides):
    """The prepared run's config with method=aioli learning, and `overrides` (Hydra's dotted form)."""
    from omegaconf import OmegaConf

    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(["stage=learn", "method=aioli", *overrides]))


def test_a_one_seed_scale_check_says_its_warning_rests_on_held_out_sampling_only():
    from doremi.stats.decide import scale_warning

    judged = {"temperature": {"difference": -0.02, "interval": (-0.03, -0.01), "verdict": "better", "half_width": 0.01}}
    assert "one seed at the larger size" in scale_warning("stratified", judged, "mini", seeds=1)
    assert "one seed" not in scale_warning("stratified", judged, "mini", seeds=3)
