"""Nothing written outside the run, stale inputs noticed, bookkeeping checked: one test per case of issue 25."""

import json
import re
import subprocess
import sys

import pytest

from doremi.config.errors import DoremiError
from doremi.outputs.report.render import to_markdown
from doremi.pipeline.common import recover_swap, swap_in
from doremi.stages import run_stage
from doremi.stages.cli import check_command_line, compose_checked
from doremi.store.files import no_links
from tests.conftest import domains_override, synthetic_domains


@pytest.fixture
def files(tmp_path):
    return synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=40)


def test_a_planted_lock_link_is_refused_and_its_target_kept(tmp_path, make_cfg, files):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (tmp_path / "run" / ".locks").mkdir(parents=True)
    (tmp_path / "run" / ".locks" / "prepare.lock").symlink_to(victim)
    from doremi.stages.run import run_recipe

    with pytest.raises(DoremiError, match=r"prepare.lock is a symbolic link"):
        run_recipe(make_cfg(domains_override(files), "stage=prepare"), "prepare")
    assert victim.read_text() == "keep me"


def test_a_planted_partial_link_is_refused(tmp_path, make_cfg, files):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "prepare.partial").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DoremiError, match=r"prepare.partial is a symbolic link"):
        run_stage(make_cfg(domains_override(files), "stage=prepare", "resume=auto"))
    assert not any(elsewhere.iterdir())


def test_no_links_names_the_link_and_refuses_paths_outside(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "reference_losses").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DoremiError, match=r"reference_losses is a symbolic link"):
        no_links(tmp_path / "run" / "reference_losses" / "round-1", tmp_path / "run")
    with pytest.raises(DoremiError, match=r"outside"):
        no_links(tmp_path / "other", tmp_path / "run")


def test_a_name_that_leaves_runs_is_refused_before_hydra_makes_a_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "doremi", "name=..", "stage=prepare"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stderr.startswith("error: name='..'")
    assert list(tmp_path.iterdir()) == []  # not even Hydra's .hydra-run
    with pytest.raises(DoremiError, match=r"is a file, not a folder"):
        (tmp_path / "plain").write_text("x")
        check_command_line([f"run_dir={tmp_path / 'plain' / 'run'}"])


def test_a_typo_names_the_closest_keys(tmp_path):
    with pytest.raises(DoremiError, match=r"dro.etaa is not a setting \(closest: dro.eta"):
        compose_checked(["dro.etaa=0.5"])
    cfg = compose_checked(
        [f"run_dir={tmp_path}", "dro.eta=0.5", "data.domains={a: b.jsonl}", "model=hf", "+model.hf_config.x=1"]
    )
    assert (
        cfg.dro.eta == 0.5 and cfg.data.domains.a == "b.jsonl" and cfg.model.hf_config.x == 1
    )  # known keys, open maps


@pytest.mark.parametrize(
    "setting, message",
    [
        ("overwrite=maybe", "overwrite=maybe: expected true or false"),
        ("resume=true", "resume=True: expected auto"),
        ("trainer.batch_size=2.5", "trainer.batch_size=2.5: expected a whole number"),
        ("final.baselines=uniform", r"final.baselines=uniform: expected a list like final.baselines=\[a,b\]"),
        ("seed=-1", r"seed=-1: expected a number in \[0, 4294967296\)"),
        ("final.eval_chunks=abc", "final.eval_chunks=abc: expected a whole number"),
    ],
)
def test_wrong_types_are_one_line_naming_the_key(monkeypatch, capsys, tmp_path, setting, message):
    from doremi.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["doremi", "stage=prepare", setting])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and re.match(rf"error: {message}", err) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing created, not even Hydra's folder


def test_an_edited_corpus_file_makes_prepare_stale(tmp_path, make_cfg, files):
    globbed = {**files, "prose": str(tmp_path / "src" / "pros*.jsonl")}  # a glob, as the issue found
    cfg = make_cfg(domains_override(globbed), "stage=prepare")
    run_stage(cfg)
    with open(files["prose"], "a") as f:
        f.write(json.dumps({"text": "one more document about the corpus."}) + "\n")
    with pytest.raises(DoremiError, match=r"made with other settings \(data files"):
        run_stage(cfg)


def test_a_corrupt_done_json_is_named(tmp_path, make_cfg, files):
    cfg = make_cfg(domains_override(files), "stage=prepare")
    run_stage(cfg)
    (tmp_path / "run" / "prepare" / "done.json").write_text("[1, 2]")
    with pytest.raises(DoremiError, match=r"prepare/done.json is not a stage record"):
        run_stage(cfg)
    (tmp_path / "run" / "prepare" / "done.json").write_text("{not json")
    with pytest.raises(DoremiError, match=r"prepare/done.json"):
        run_stage(make_cfg(domains_override(files), "stage=reference"))


def test_a_kill_during_the_swap_leaves_one_whole_output(tmp_path):
    final, new = tmp_path / "stage", tmp_path / "stage.partial"
    for folder, text in ((final, "old"), (new, "new")):
        folder.mkdir()
        (folder / "done.json").write_text(json.dumps({"settings": {}, "fingerprint": text}))
    final.rename(tmp_path / "stage.old")  # killed after the old output went aside, before the new came in
    recover_swap(final)
    assert json.loads((final / "done.json").read_text())["fingerprint"] == "new"
    (final / "x").write_text("")
    newer = tmp_path / "next.partial"
    newer.mkdir()
    swap_in(newer, final)
    assert not (final / "x").exists() and not (tmp_path / "stage.old").exists()


def test_publishing_over_another_runs_mixture_is_refused(tmp_path, make_cfg, files):
    first = [domains_override(files), "method=stratified"]
    run_stage(make_cfg(*first, "stage=prepare"))
    run_stage(make_cfg(*first, "stage=learn"))
    other = [*first, f"run_dir={tmp_path / 'other'}"]
    run_stage(make_cfg(*other, "stage=prepare"))
    with pytest.raises(DoremiError, match=r"demo.json holds the mixture learned by run_dir=.*/run, not this run"):
        run_stage(make_cfg(*other, "stage=learn"))
    with pytest.raises(
        DoremiError, match=r"not this run .*replace_published=true"
    ):  # overwrite redoes one's own stage only
        run_stage(make_cfg(*other, "stage=learn", "overwrite=true"))
    run_stage(make_cfg(*other, "stage=learn", "replace_published=true"))
    published = json.loads((tmp_path / "mixtures" / "demo.json").read_text())
    assert published["provenance"]["config"]["run_dir"] == str(tmp_path / "other")


def test_markdown_in_a_domain_name_stays_text():
    name = "evil | x](http://a)\n# heading"
    text = to_markdown("t", [("s", [f"domain {name}", (["domain"], [[name]])])])
    assert not re.search(r"^#+ heading", text, re.M)  # no heading of the data's making
    assert "\\](" in text and not re.search(r"(?<!\\)\]\(", text)  # no link either
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(line.replace("\\|", "").count("|") == 2 for line in rows)  # one column: the data's pipe escaped


def test_a_planted_checkpoint_is_refused_without_running_it(tmp_path, make_cfg, files):
    import pickle

    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "run" / "reference.partial" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "step-00000010.ckpt").write_bytes(pickle.dumps(Payload()))
    cfg = make_cfg(domains_override(files), "stage=reference", "resume=auto")
    from doremi.pipeline.common import stage_settings

    (tmp_path / "run" / "reference.partial" / "settings.json").write_text(json.dumps(stage_settings(cfg, "reference")))
    with pytest.raises(DoremiError, match=r"step-00000010.ckpt is not a checkpoint this tool wrote"):
        run_stage(cfg)
    assert not marker.exists()


def test_lightning_refusing_a_combination_is_one_line_before_anything_is_made(tmp_path):
    with pytest.raises(DoremiError, match=r"^trainer\.accelerator=cpu trainer\.devices=\[0, 1\] .*Lightning refused"):
        check_command_line(
            [f"run_dir={tmp_path / 'run'}", "stage=all", "trainer.accelerator=cpu", "trainer.devices=[0,1]"]
        )
    assert not (tmp_path / "run").exists()


def test_a_missing_input_stage_is_named_before_anything_is_made(tmp_path):
    with pytest.raises(DoremiError, match=r"^stage=final reads .*prepare.* run stage=prepare first"):
        check_command_line([f"run_dir={tmp_path / 'run'}", "stage=final"])
    assert not (tmp_path / "run").exists()


def test_a_file_size_limit_is_one_line_naming_the_limit(tmp_path, files, make_cfg):
    """ulimit -f (RLIMIT_FSIZE) below the size of a model: a checkpoint or model.pt cannot be written whole."""
    import os
    import resource

    from tests.conftest import TINY

    args = [sys.executable, "-m", "doremi", f"run_dir={tmp_path / 'run'}", *TINY, domains_override(files)]
    args += [f"mixtures_dir={tmp_path / 'mixtures'}", "trainer.max_steps=4", "trainer.hf_checkpoints=false"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    from doremi.stages import run_stage

    run_stage(make_cfg(domains_override(files), "trainer.max_steps=4", "trainer.hf_checkpoints=false", "stage=prepare"))
    limited = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))  # noqa: E731
    for extra in (["checkpoint.every=2"], ["checkpoint.every=0"]):  # a Lightning checkpoint, then model.pt
        result = subprocess.run(
            [*args, "stage=reference", *extra],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=limited,
        )
        lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert len(lines) == 1 and "reference.partial" in lines[0] and "limited to 20,000 bytes" in lines[0]
        assert not (tmp_path / "run" / "reference" / "done.json").exists()
