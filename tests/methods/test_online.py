"""Online mixing: the bandit's known answers, a sampler whose weights change without touching drawn batches,
and the final run with ODM: its schedule, its replay and its exact resume."""

import json

import numpy as np
import pytest

from doremi.data.sampler import MixtureSampler
from doremi.methods.odm import bandit as online
from doremi.stages import run_stage
from tests.conftest import crash_then_resume, domains_override, synthetic_domains, write_jsonl


def test_the_bandit_leans_toward_the_highest_loss_domain():
    rewards, weights = np.zeros(3), np.full(3, 1 / 3)
    for t in range(1, 200):
        rewards = online.update(rewards, np.array([2.0, 2.0, 3.0]), np.ones(3, bool), weights, 0.9)
        weights = online.mixture(rewards, t * 10)
    assert weights[2] > 1 / 3 > weights[0] and weights[0] == pytest.approx(weights[1])
    assert weights.min() >= online.epsilon(1990, 3) - 1e-12 and weights.sum() == pytest.approx(1.0)
    unseen = online.update(rewards, np.array([9.0, 9.0, 9.0]), np.array([True, False, True]), weights, 0.9)
    assert unseen[1] == rewards[1]  # a domain without rows keeps its reward


def test_new_weights_start_at_the_first_batch_not_yet_drawn_and_replay_exactly():
    sampler = MixtureSampler([50, 50, 50], [1 / 3] * 3, 12, seed=4)
    drawn = [sampler.batch(s)[0] for s in range(5)]
    start = sampler.set_weights(2, [0.8, 0.1, 0.1])
    assert start == 5  # batches 0-4 were drawn with the old weights and stay as they were
    later = [sampler.batch(s)[0] for s in range(5, 9)]
    assert all(
        np.bincount(d, minlength=3).tolist() in ([10, 1, 1], [9, 2, 1], [9, 1, 2], [10, 2, 0], [10, 0, 2])
        for d in later
    )
    replay = MixtureSampler([50, 50, 50], [1 / 3] * 3, 12, seed=4)
    replay.schedule = list(sampler.schedule)
    assert all(np.array_equal(replay.batch(s)[0], d) for s, d in enumerate(drawn + later))
    assert np.array_equal(replay.batch(3)[1], sampler.batch(3)[1])  # out of order too


@pytest.mark.slow
def test_odm_in_the_final_run_schedule_replay_and_exact_resume(tmp_path, make_cfg, monkeypatch):
    rng = np.random.default_rng(0)
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=150, seed=3)
    noise = ["".join(chr(int(c)) for c in rng.integers(33, 127, size=200)) for _ in range(150)]
    files["noise"] = str(write_jsonl(tmp_path / "src" / "noise.jsonl", [{"text": t} for t in noise]))
    base = [domains_override(files), "method=odm", "online.every=5", "trainer.max_steps=60", "checkpoint.every=10"]
    run_stage(make_cfg(*base, "stage=prepare"))
    run_stage(make_cfg(*base, "stage=learn"))
    run_stage(make_cfg(*base, "stage=final"))
    seed_dir = tmp_path / "run" / "final" / "odm" / "seed-0"
    schedule = [json.loads(line) for line in (seed_dir / "schedule.jsonl").read_text().splitlines()]
    assert schedule[0]["step"] == 0 and len(schedule) == 60 // 5  # the start, then an update every 5 steps
    assert [e["step"] for e in schedule] == sorted({e["step"] for e in schedule})
    # the loss-rewarded bandit is drawn to the noise domain (its loss stays highest): measured, not hidden
    assert schedule[-1]["weights"]["noise"] == max(schedule[-1]["weights"].values()) > 1 / 3
    history = json.loads((seed_dir / "result.json").read_text())["history"]
    average = json.loads((seed_dir.parent / "schedule-average.json").read_text())
    assert average["weights"]["noise"] > 1 / 3 and "online schedule" in average["provenance"]["note"]

    # killed after the step-10 checkpoint, resumed: the same schedule and losses, bit for bit
    killed = tmp_path / "killed"
    other = [*base, f"run_dir={killed}", f"mixtures_dir={killed}-mixtures", "final.baselines=[]"]
    run_stage(make_cfg(*other, "stage=prepare"))
    run_stage(make_cfg(*other, "stage=learn"))
    crash_then_resume(monkeypatch, make_cfg, other, step=13)
    resumed = killed / "final" / "odm" / "seed-0"
    assert (resumed / "schedule.jsonl").read_text() == (seed_dir / "schedule.jsonl").read_text()
    assert json.loads((resumed / "result.json").read_text())["history"] == history

    # replayed from its schedule: the same batches, so the same losses
    replayed = tmp_path / "replayed"
    again = [*base, f"run_dir={replayed}", f"mixtures_dir={replayed}-mixtures", "final.baselines=[]",
             f"online.replay={seed_dir / 'schedule.jsonl'}"]  # fmt: skip
    run_stage(make_cfg(*again, "stage=prepare"))
    run_stage(make_cfg(*again, "stage=learn"))
    run_stage(make_cfg(*again, "stage=final"))
    assert json.loads((replayed / "final" / "odm" / "seed-0" / "result.json").read_text())["history"] == history


@pytest.mark.slow
def test_odm_resumes_exactly_with_two_processes(tmp_path, make_cfg):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import TINY

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=120, seed=5)
    base = [*TINY, domains_override(files), "method=odm", "online.every=5", "final.baselines=[]",
            "trainer.max_steps=40", "checkpoint.every=10", "final.eval_every=40"]  # fmt: skip
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def cli(run_dir, *args, wait=True):
        command = [sys.executable, "-m", "doremi", *base, f"run_dir={run_dir}", f"mixtures_dir={run_dir}-m", *args]
        if not wait:
            return subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]

    from doremi.stages import run_stage

    for run in ("straight", "killed"):  # in this process: only the two-process stage needs the command line
        for stage in ("prepare", "learn"):
            run_stage(make_cfg(*base[len(TINY) :], f"run_dir={tmp_path / run}", f"mixtures_dir={tmp_path / run}-m", f"stage={stage}"))  # fmt: skip
    cli(tmp_path / "straight", "stage=final", *ddp)
    process = cli(tmp_path / "killed", "stage=final", *ddp, wait=False)
    checkpoints = tmp_path / "killed" / "final.partial" / "odm" / "seed-0" / "checkpoints"
    deadline = time.time() + 300
    while not list(checkpoints.glob("step-00000020.ckpt")) and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "final" / "done.json").exists(), "the run finished before it could be killed"
    cli(tmp_path / "killed", "stage=final", *ddp, "resume=auto")
    seeds = [tmp_path / run / "final" / "odm" / "seed-0" for run in ("straight", "killed")]
    assert (seeds[0] / "schedule.jsonl").read_text() == (seeds[1] / "schedule.jsonl").read_text()
    histories = [json.loads((s / "result.json").read_text())["history"] for s in seeds]
    assert histories[0] == histories[1]


def test_a_schedule_exports_as_nanotron_data_stages(tmp_path, make_cfg):
    weights = [{"a": 0.5, "b": 0.5}, {"a": 0.7, "b": 0.3}]
    schedule = write_jsonl(
        tmp_path / "schedule.jsonl", [{"step": 0, "weights": weights[0]}, {"step": 11, "weights": weights[1]}]
    )
    mixture = tmp_path / "average.json"
    mixture.write_text(json.dumps({"weights": {"a": 0.6, "b": 0.4}}))
    out = tmp_path / "stages.yaml"
    run_stage(
        make_cfg("stage=export", f"mixture={mixture}", "format=nanotron", f"export.schedule={schedule}", f"out={out}")
    )
    text = out.read_text()
    assert text.count("start_training_step:") == 2 and "start_training_step: 12" in text
    assert "0.700000" in text and "0.300000" in text
    from doremi.config.errors import DoremiError

    with pytest.raises(DoremiError, match=r"format=megatron takes one mixture"):
        run_stage(make_cfg("stage=export", f"mixture={mixture}", "format=megatron", f"export.schedule={schedule}"))
