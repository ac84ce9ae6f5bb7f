"""Callbacks: progress lines on screen, the proxy's trajectory file, and checkpoints."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from doremi.config.errors import DoremiError
from doremi.store import runtime
from doremi.store.runtime import say


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress(pl.Callback):
    """One line every `every` steps: step, loss, tokens/s, elapsed and ETA."""

    def __init__(self, label: str, max_steps: int, tokens_per_step: int, lines: int = 10):
        self.label = label
        self.max_steps = max_steps
        self.tokens_per_step = tokens_per_step
        self.every = max(1, max_steps // max(lines, 1))
        self.start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        runtime.where["step"] = f"{self.label} step {step}"
        if not trainer.is_global_zero or (step % self.every and step != self.max_steps):
            return
        elapsed = time.perf_counter() - self.start
        rate = step * self.tokens_per_step / max(elapsed, 1e-9)
        eta = elapsed / max(step, 1) * (self.max_steps - step)
        loss = getattr(pl_module, "last_logged", {}).get("train/loss")
        loss_text = f"loss {float(loss):.3f}  " if loss is not None else ""
        say(
            f"[{self.label}] step {step:>{len(str(self.max_steps))}}/{self.max_steps}  {loss_text}"
            f"{rate:,.0f} tok/s  elapsed {_clock(elapsed)}  eta {_clock(eta)}"
        )


def _step_of(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError):  # a line cut short by a kill
        return float("inf")


class TrajectoryWriter(pl.Callback):
    """Appends the proxy's `last_record` to trajectory.jsonl after every optimizer step."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def on_train_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        if self.path.exists():  # resumed: keep the steps the checkpoint has seen, drop the rest
            done = int(pl_module.domain_weights.steps)
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= done]
            self.path.write_text("".join(line + "\n" for line in kept))
        self._file = open(self.path, "a", buffering=1)  # line-buffered: a killed run loses no finished step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._file is not None and pl_module.last_record is not None:
            self._file.write(json.dumps(pl_module.last_record) + "\n")
            pl_module.last_record = None

    def on_train_end(self, trainer, pl_module) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def rng_states() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": list(np.random.get_state()[:1])
        + [torch.from_numpy(np.random.get_state()[1].astype(np.int64))]
        + list(np.random.get_state()[2:]),  # plain types and tensors: checkpoints load with weights_only
        "python": random.getstate(),
    }


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    random.setstate(states["python"])


class Checkpoints(pl.Callback):
    """A full checkpoint every `every` optimizer steps: model, optimizer, scheduler, loops,
    sampler position (the data loader's state), the module's buffers (the domain-weight
    state) and the RNG states. Written under a temporary name and renamed, so a file named
    step-*.ckpt is always complete; the newest `keep` are kept."""

    def __init__(self, directory: Path, every: int, keep: int, eval_every: int | None = None):
        self.dir = Path(directory)
        self.every, self.keep = every, max(keep, 1)
        self.eval_every = eval_every  # a step that is also evaluated is saved after its evaluation
        self._pending: int | None = None
        self._last = -1
        self._rng_to_restore: dict | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        signum = runtime.where.get("signal")
        if signum is not None:  # stopped by a signal: a checkpoint of this step, then the stage ends
            runtime.where.update(signal=None, training=False)
            if self.every and step and step != self._last:
                self.save(trainer, step)
            raise runtime.Stopped(signum)
        if not self.every or step == 0 or step % self.every or step == self._last:
            return
        if self.eval_every and step % self.eval_every == 0 and step < trainer.max_steps:
            self._pending = step  # saved once the held-out scores of this step are in the module's history
            return
        self.save(trainer, step)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._pending is not None and self._pending == trainer.global_step:
            self._pending = None
            self.save(trainer, trainer.global_step)

    def on_train_end(self, trainer, pl_module) -> None:
        runtime.where["training"] = False

    def save(self, trainer, step: int) -> None:
        self._last = step
        final = self.dir / f"step-{step:08d}.ckpt"
        tmp = self.dir / f".step-{step:08d}.ckpt.tmp"
        if trainer.is_global_zero:
            self.dir.mkdir(parents=True, exist_ok=True)
        try:
            trainer.save_checkpoint(tmp)
        except RuntimeError as err:  # torch's writer on a short write (a full disk, a file-size limit)
            raise OSError(errno.EIO, str(err).strip().splitlines()[0], str(final)) from None
        if trainer.is_global_zero:
            os.replace(tmp, final)
            for old in sorted(self.dir.glob("step-*.ckpt"))[: -self.keep]:
                old.unlink()
        trainer.strategy.barrier("checkpoint")

    def state_dict(self) -> dict:
        return {"rng": rng_states()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._rng_to_restore = state_dict.get("rng")

    def on_train_start(self, trainer, pl_module) -> None:
        runtime.where["training"] = True
        keep_sigterm_ours(trainer)
        # restored here, after Lightning has built its data iterators (which draw from the RNG)
        if self._rng_to_restore is not None:
            set_rng_states(self._rng_to_restore)
            self._rng_to_restore = None


def keep_sigterm_ours(trainer) -> None:
    """A SIGTERM during training ends the stage our way (a checkpoint at the end of the step, one line, status
    143), never Lightning's: its handler, which fit installs in front of ours, marks the trainer, and a mark
    seen after our check of the step raises SIGTERMException, a SystemExit with status 0 that a scheduler would
    read as success. Lightning's handler still runs (it forwards the signal to processes it launched), then
    the mark is cleared; ours, which it calls, has recorded the signal for the end of the step."""
    if threading.current_thread() is not threading.main_thread():
        return
    lightning = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame) -> None:
        if callable(lightning):
            lightning(signum, frame)
        trainer._signal_connector.received_sigterm = False  # Lightning 2.x keeps the mark there

    signal.signal(signal.SIGTERM, handler)


def resume_checkpoint(resume: str | None, directory: Path, label: str) -> str | None:
    """The checkpoint to resume from: `resume=auto` takes the newest complete one, a path that file."""
    if resume in (None, "", "never", False):
        return None
    if str(resume) == "auto":
        found = sorted(Path(directory).glob("step-*.ckpt"))
        if not found:
            say(f"[{label}] resume=auto: no checkpoint in {directory}; starting from step 0")
            return None
        say(f"[{label}] resuming from {found[-1]}")
        return checked(found[-1])
    if not Path(resume).is_file():
        raise DoremiError(f"resume={resume}: no such checkpoint file; use resume=auto or a step-*.ckpt path")
    return checked(Path(resume))


def checked(path: Path) -> str:
    """A training checkpoint: loaded as plain tensors and containers only (a pickled payload is never run) and
    holding a model state; else one error naming the file (the modules check their own state on loading)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (whatever the file is, it is not our checkpoint)
        raise DoremiError(
            f"{path} is not a checkpoint this tool wrote ({type(err).__name__}); delete it, or rerun without resume="
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise DoremiError(f"{path} is not a training checkpoint of this tool; delete it, or rerun without resume=")
    return str(path)


def belongs(path: str, module) -> None:
    """A checkpoint resumed by `module` must have been written by this stage with these settings: the same
    hyperparameters (domains, model shape, optimizer, steps) and the same parameter shapes; else one line naming
    the first difference (a checkpoint planted from another run would otherwise fail deep inside Lightning)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = torch.load(path, map_location="cpu", weights_only=True)
    import json

    plain = lambda v: json.dumps(v, sort_keys=True, default=str)  # noqa: E731  (tuples and lists alike)
    theirs, ours = dict(state.get("hyper_parameters") or {}), dict(module.hparams)
    for key in sorted(set(theirs) | set(ours)):
        if plain(theirs.get(key)) != plain(ours.get(key)):
            raise DoremiError(
                f"{path} was written by another run or other settings ({key}: {theirs.get(key)!r} there, "
                f"{ours.get(key)!r} here); delete it, or rerun without resume="
            )
    mine = module.state_dict()
    for name, tensor in state["state_dict"].items():
        if name not in mine or tuple(mine[name].shape) != tuple(getattr(tensor, "shape", ())):
            raise DoremiError(
                f"{path} holds {name} of another shape or model than this stage's; delete it, or rerun without resume="
            )
