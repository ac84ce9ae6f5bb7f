"""Many processes, gradient accumulation, kill-and-resume, iterated rounds, the reference-loss cache."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.data.mixture import load_mixture
from doremi.data.resample import allocate
from doremi.methods.doremi import dro
from doremi.stages import run_stage
from doremi.training.callbacks import Checkpoints
from tests.conftest import TINY, domains_override, synthetic_domains
from tests.stages.test_pipeline import replay_trajectory

DOMAINS = {"prose": "words", "numbers": "digits", "more": "words"}


def trajectory(run):
    return [json.loads(line) for line in (run / "proxy" / "trajectory.jsonl").read_text().splitlines()]


def weights_of(records):
    return [list(r["weights"].values()) for r in records]


@pytest.fixture(scope="module")
def prepared_and_referenced(tmp_path_factory):
    """prepare and reference, done once for the module (tests get copies: see upstream)."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONFIG_DIR

    root = tmp_path_factory.mktemp("upstream")
    files = synthetic_domains(root / "src", DOMAINS, n_docs=150)
    overrides = [domains_override(files), "trainer.batch_size=12"]
    for stage in ("prepare", "reference"):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            base = [f"run_dir={root / 'run'}", f"mixtures_dir={root / 'mixtures'}", f"reports_dir={root / 'reports'}"]
            run_stage(compose(config_name="config", overrides=[*base, *TINY, *overrides, f"stage={stage}"]))
    return overrides, root / "run"


@pytest.fixture
def upstream(prepared_and_referenced, tmp_path):
    """A run directory of this test's own with prepare and reference done; returns (overrides, run path)."""
    overrides, run = prepared_and_referenced
    return list(overrides), copy_upstream(run, tmp_path / "run")


def copy_upstream(run, to):
    for stage in ("prepare", "reference"):
        shutil.copytree(run / stage, to / stage)
    return to


def cli(cwd, run_dir, overrides, *args, launcher=(sys.executable, "-m", "doremi"), wait=True):
    command = [*launcher, *TINY, *overrides, f"run_dir={run_dir}", f"mixtures_dir={run_dir}-mixtures", *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def here(make_cfg, run_dir, overrides, *args):
    """`cli`'s run in this process (one thread, as the command line's runs get): no interpreter to start."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_stage(make_cfg(*overrides, f"run_dir={run_dir}", f"mixtures_dir={run_dir}-mixtures", *args))
    finally:
        torch.set_num_threads(threads)


def proxy_with_and_without(upstream, tmp_path, make_cfg, option):
    """Proxy trajectories of the upstream run as configured, and of a copy with `option`."""
    overrides, run = upstream
    run_stage(make_cfg(*overrides, "stage=proxy"))
    other = copy_upstream(run, tmp_path / "other")
    run_stage(make_cfg(*overrides, "stage=proxy", f"run_dir={other}", f"mixtures_dir={other}-mixtures", option))
    return trajectory(run), trajectory(other), other


@pytest.mark.slow
@pytest.mark.parametrize("sampling", ["reweight", "resample"])
def test_gradient_accumulation_moves_weights_once_per_step_like_one_batch(upstream, tmp_path, make_cfg, sampling):
    upstream[0].append(f"dro.sampling={sampling}")
    one, accumulated, _ = proxy_with_and_without(upstream, tmp_path, make_cfg, "trainer.accumulate_grad_batches=3")
    assert len(accumulated) == len(one) == 20  # one update per optimizer step, not per micro-batch
    for a, b in zip(weights_of(one), weights_of(accumulated)):
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("sampling", ["reweight", "resample"])
def test_two_processes_match_one_process(upstream, tmp_path, make_cfg, sampling):
    overrides, run = upstream
    overrides = [*overrides, f"dro.sampling={sampling}"]
    single = copy_upstream(run, tmp_path / "single")
    double = copy_upstream(run, tmp_path / "double")
    here(make_cfg, single, overrides, "stage=proxy", "trainer.accelerator=cpu")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "doremi")
    ddp = ["stage=proxy", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    cli(tmp_path, double, overrides, *ddp, launcher=torchrun)
    one, two = trajectory(single), trajectory(double)
    assert len(one) == len(two) == 20
    worst = max(abs(x - y) for a, b in zip(weights_of(one), weights_of(two)) for x, y in zip(a, b))
    assert worst < 1e-6, worst
    provenance = json.loads((double / "proxy" / "mixture.json").read_text())["provenance"]
    assert provenance["steps"] == 20 and provenance["processes"] == 2


@pytest.mark.slow
def test_fully_sharded_training_matches_one_process(upstream, tmp_path, make_cfg):
    """trainer.strategy=fsdp (fully_shard over two CPU processes) trains the reference and the proxy as one
    process does, and saves whole models gathered from the shards."""
    overrides, run = upstream
    single = copy_upstream(run, tmp_path / "single")
    sharded = copy_upstream(run, tmp_path / "sharded")
    shutil.rmtree(sharded / "reference")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "doremi")
    fsdp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=fsdp", "checkpoint.every=10"]
    cli(tmp_path, sharded, overrides, "stage=reference", *fsdp, launcher=torchrun)
    cli(tmp_path, sharded, overrides, "stage=proxy", *fsdp, launcher=torchrun)
    here(make_cfg, single, overrides, "stage=proxy", "trainer.accelerator=cpu")

    one = torch.load(run / "reference" / "model.pt", weights_only=True)["state_dict"]
    two = torch.load(sharded / "reference" / "model.pt", weights_only=True)["state_dict"]
    assert one.keys() == two.keys()
    assert all(one[k].shape == two[k].shape for k in one)  # whole tensors, not one process's shard
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-5
    a, b = trajectory(single), trajectory(sharded)
    assert len(a) == len(b) == 20
    assert max(abs(x - y) for p, q in zip(weights_of(a), weights_of(b)) for x, y in zip(p, q)) < 1e-6
    from transformers import AutoModelForCausalLM

    for stage in ("reference", "proxy"):  # the Hugging Face checkpoints hold the whole models too
        whole = AutoModelForCausalLM.from_pretrained(single / stage / "hf" if stage == "proxy" else run / stage / "hf")
        gathered = AutoModelForCausalLM.from_pretrained(sharded / stage / "hf").state_dict()
        assert all(float((v - gathered[k]).abs().max()) < 1e-5 for k, v in whole.state_dict().items())


@pytest.mark.slow
def test_bf16_and_compiled_training_keep_the_algorithm_and_the_weights(upstream, tmp_path, make_cfg):
    """trainer.precision=bf16-mixed (autocast; CPU here, GPU the same) keeps the exact update and lands near
    float32's weights; trainer.compile=true trains the same model and saves it under the plain names."""
    overrides, run = upstream
    single = copy_upstream(run, tmp_path / "single")
    bf16 = copy_upstream(run, tmp_path / "bf16")
    compiled = copy_upstream(run, tmp_path / "compiled")
    shutil.rmtree(compiled / "reference")
    here(make_cfg, single, overrides, "stage=proxy")
    # with fused AdamW, as a GPU gets it (optim.fused=auto): Lightning's own clipping refused that pair
    cli(tmp_path, bf16, overrides, "stage=proxy", "trainer.precision=bf16-mixed", "optim.fused=true")
    cli(tmp_path, compiled, overrides, "stage=reference", "trainer.compile=true")

    steps, worst, mean_error = replay_trajectory(bf16)
    assert steps == 20 and worst < 1e-9 and mean_error < 1e-9
    full, half = load_mixture(single / "proxy" / "mixture.json"), load_mixture(bf16 / "proxy" / "mixture.json")
    assert full != half  # bf16 really ran
    assert sum(abs(full[d] - half[d]) for d in full) < 0.05
    plain = torch.load(run / "reference" / "model.pt", weights_only=True)["state_dict"]
    fast = torch.load(compiled / "reference" / "model.pt", weights_only=True)["state_dict"]
    assert plain.keys() == fast.keys()
    assert max(float((plain[k] - fast[k]).abs().max()) for k in plain) < 1e-4


def test_gradient_clipping_clips_over_the_optimizers_parameters():
    from doremi.training.lm import clip_norm

    torch.manual_seed(0)
    kept, clipped = torch.nn.Parameter(torch.randn(10)), torch.nn.Parameter(torch.randn(10))
    kept.grad, clipped.grad = torch.full((10,), 3.0), torch.full((10,), 3.0)
    optimizer = torch.optim.AdamW([clipped])  # `kept` is not trained (a frozen reference's weights)
    clip_norm(optimizer, None)
    assert float(clipped.grad.norm()) == pytest.approx(3.0 * 10**0.5)
    clip_norm(optimizer, 1.0)
    assert float(clipped.grad.norm()) == pytest.approx(1.0, rel=1e-5) and float(kept.grad[0]) == 3.0


@pytest.mark.slow
def test_killed_run_resumes_bit_identical(upstream, tmp_path, make_cfg):
    overrides, run = upstream
    slow = ["model.d_model=64", "proxy.max_steps=240", "checkpoint.every=20", "stage=proxy"]
    straight = copy_upstream(run, tmp_path / "straight")
    killed = copy_upstream(run, tmp_path / "killed")
    for stage in ("reference",):  # the bigger proxy needs a reference of the same shape
        shutil.rmtree(straight / stage)
        shutil.rmtree(killed / stage)
    here(make_cfg, straight, overrides, *slow[:1], "stage=reference")  # in this process, at one thread, as cli's
    shutil.copytree(straight / "reference", killed / "reference")
    here(make_cfg, straight, overrides, *slow)

    process = cli(tmp_path, killed, overrides, *slow, wait=False)
    checkpoints = killed / "proxy.partial" / "checkpoints"
    deadline = time.time() + 300
    while not list(checkpoints.glob("step-00000040.ckpt")) and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "proxy" / "done.json").exists(), "the run finished before it could be killed"
    assert list(checkpoints.glob("step-*.ckpt"))

    result = cli(tmp_path, killed, overrides, *slow, "resume=auto")
    assert "resuming from" in result.stderr
    assert trajectory(killed) == trajectory(straight)  # losses, excess and weights, bit for bit
    mixture = [json.loads((r / "proxy" / "mixture.json").read_text()) for r in (straight, killed)]
    assert mixture[0]["weights"] == mixture[1]["weights"]
    assert not list((killed / "proxy").rglob("*.ckpt"))  # checkpoints go once the stage is done

    # SIGTERM (a scheduler's preemption or time limit): a checkpoint at the step it arrived, a non-zero
    # status and one line; resumed, the same result as the uninterrupted run
    termed = copy_upstream(run, tmp_path / "termed")
    shutil.rmtree(termed / "reference")
    shutil.copytree(straight / "reference", termed / "reference")
    rare = [a for a in slow if not a.startswith("checkpoint.every")] + ["checkpoint.every=1000"]
    process = cli(tmp_path, termed, overrides, *rare, wait=False)
    trajectory_file = termed / "proxy.partial" / "trajectory.jsonl"
    deadline = time.time() + 300
    while (
        process.poll() is None
        and time.time() < deadline
        and (not trajectory_file.exists() or len(trajectory_file.read_text().splitlines()) < 30)
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: stopped by SIGTERM during stage=proxy at proxy step ") and "resume=auto" in last
    assert "Traceback" not in stderr
    assert not (termed / "proxy" / "done.json").exists()
    saved = list((termed / "proxy.partial" / "checkpoints").glob("step-*.ckpt"))
    assert len(saved) == 1  # checkpoint.every=1000: only the one taken when the signal came
    result = cli(tmp_path, termed, overrides, *rare, "resume=auto")
    assert "resuming from" in result.stderr
    assert trajectory(termed) == trajectory(straight)


def test_checkpoint_without_domain_weight_state_is_refused(upstream, tmp_path, make_cfg):
    overrides, run = upstream
    bad = tmp_path / "not-a-proxy.ckpt"
    proxy_like = {
        "state_dict": {"domain_weights.weights": torch.ones(3)},
        "global_step": 1,
        "pytorch-lightning_version": pl.__version__,
    }
    torch.save(proxy_like, bad)
    with pytest.raises(DoremiError, match=r"not-a-proxy.ckpt was written by another run or other settings"):
        run_stage(make_cfg(*overrides, "stage=proxy", f"resume={bad}"))


@pytest.mark.slow
def test_rounds_train_a_new_reference_on_the_previous_weights(upstream, make_cfg):
    overrides, run = upstream
    run_stage(make_cfg(*overrides, "stage=proxy", "rounds=3", "rounds_tolerance=10"))
    rounds = json.loads((run / "proxy" / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [1, 2]  # the change after round 2 is below the tolerance
    assert rounds[0]["l1_change"] is None and rounds[1]["l1_change"] >= 0
    reference = torch.load(run / "proxy" / "round-2" / "reference" / "model.pt", weights_only=True)
    assert reference["mixture"] == pytest.approx(rounds[0]["weights"])
    mixture = json.loads((run / "proxy" / "mixture.json").read_text())
    assert mixture["weights"] == rounds[1]["weights"] and mixture["provenance"]["rounds"] == 2
    assert (run / "proxy" / "trajectory.jsonl").read_text() == (
        run / "proxy" / "round-2" / "trajectory.jsonl"
    ).read_text()


@pytest.mark.slow
def test_reference_cache_replaces_the_reference_forward(upstream, tmp_path, make_cfg):
    plain, fast, cached = proxy_with_and_without(upstream, tmp_path, make_cfg, "proxy.reference_cache=true")
    files = list((cached / "reference_losses" / "round-1").glob("*.npy"))
    losses = [f for f in files if not f.name.endswith(".done.npy")]
    assert len(losses) == 3 and all(str(np.load(f, mmap_mode="r").dtype) == "float16" for f in losses)
    for a, b in zip(plain, fast):  # float16 storage: excess agrees to a few thousandths
        assert max(abs(a["excess"][d] - b["excess"][d]) for d in a["excess"]) < 5e-3


@pytest.mark.slow
def test_resampling_draws_each_batch_with_the_previous_weights_and_resumes(upstream, tmp_path, make_cfg, monkeypatch):
    overrides, run = upstream
    settings = [*overrides, "stage=proxy", "dro.sampling=resample", "checkpoint.every=10"]
    run_stage(make_cfg(*settings))
    records = trajectory(run)
    assert len(records) == 20
    previous, owed = [1 / 3] * 3, np.zeros(3)
    for record in records:  # step t's batch holds alpha_{t-1} * 12 sequences of each domain, in exact proportion
        counts, owed = allocate(np.array(previous), owed, 12)
        assert list(record["sequences"].values()) == counts.tolist()
        excess = torch.tensor(list(record["excess"].values()), dtype=torch.float64)
        expected = dro.update_weights(torch.tensor(previous, dtype=torch.float64), excess, 1.0, 1e-3)
        assert max(abs(a - b) for a, b in zip(expected.tolist(), record["weights"].values())) < 1e-12
        previous = list(record["weights"].values())
    assert len({tuple(r["sequences"].values()) for r in records}) > 1  # the batches follow the weights
    assert json.loads((run / "proxy" / "mixture.json").read_text())["provenance"]["sampling"] == "resample"

    # interrupted after the step-10 checkpoint, then resumed: the same batches, losses and weights
    interrupted = copy_upstream(run, tmp_path / "interrupted")
    save = Checkpoints.on_train_batch_end

    def crash_at_step_13(self, trainer, *args):
        save(self, trainer, *args)
        if trainer.global_step == 13:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(Checkpoints, "on_train_batch_end", crash_at_step_13)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_stage(make_cfg(*settings, f"run_dir={interrupted}", f"mixtures_dir={interrupted}-mixtures"))
    monkeypatch.setattr(Checkpoints, "on_train_batch_end", save)
    assert list((interrupted / "proxy.partial" / "checkpoints").glob("step-00000010.ckpt"))
    run_stage(make_cfg(*settings, f"run_dir={interrupted}", f"mixtures_dir={interrupted}-mixtures", "resume=auto"))
    assert trajectory(interrupted) == records
    logs = interrupted / "proxy" / "logs"  # the interrupted run's log is kept beside the resumed one's
    assert (logs / "metrics.csv").exists() and (logs / "resumed-1" / "metrics.csv").exists()


def test_trainer_settings_lightning_refuses_are_one_clear_error(prepared):
    cfg, _ = prepared
    cfg.stage, cfg.trainer.accelerator = "reference", "mps"  # Apple GPUs: not on this machine
    with pytest.raises(DoremiError, match=r"^trainer.accelerator=mps .*Lightning refused this combination .*MPS"):
        run_stage(cfg)
