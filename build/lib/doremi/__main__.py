"""`python -m doremi stage=... key=value ...`: a Hydra app that dispatches to doremi.stages."""

from __future__ import annotations

import os
import signal
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from doremi.config.errors import DoremiError
from doremi.stages.cli import CONFIG_DIR, check_command_line, help_text, renamed


def _separate_multirun_jobs(cfg: DictConfig) -> None:
    """In a multirun, jobs get their own run_dir and name unless the sweep sets them."""
    hydra_cfg = HydraConfig.get()
    shared = cfg.get("stage") == "swarm" or (cfg.get("stage") == "compare" and cfg.compare.get("trial") is not None)
    if hydra_cfg.mode != RunMode.MULTIRUN or shared:  # swarm runs and compare trials share their run_dir
        return
    overridden = {o.split("=", 1)[0].lstrip("+~") for o in hydra_cfg.overrides.task}
    with open_dict(cfg):
        if "run_dir" not in overridden:
            cfg.run_dir = hydra_cfg.runtime.output_dir
        if "name" not in overridden:
            cfg.name = f"{cfg.name}-{hydra_cfg.job.num}"


def stopped_line(signum: int) -> str:
    from doremi.store.runtime import where

    at = f" at {where['step']}" if where.get("step") else ""
    stage = f" during stage={where['stage']}" if where.get("stage") else ""
    return (
        f"error: stopped by {signal.Signals(signum).name}{stage}{at}; nothing was published for it: "
        "rerun with resume=auto to continue from its last checkpoint"
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def run(cfg: DictConfig) -> None:
    from doremi.stages import run_stage
    from doremi.store.runtime import Stopped, on_signal

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _separate_multirun_jobs(cfg)
        run_stage(cfg)
    except Stopped as stop:
        print(stopped_line(stop.signum), file=sys.stderr, flush=True)
        sys.exit(128 + stop.signum)
    except DoremiError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except OSError as err:  # a full disk, a file-size limit, a file where a directory should be, no permission
        from doremi.store.files import write_failure
        from doremi.store.runtime import where

        folder = f"{cfg.run_dir}/{where['stage']}.partial (stage={where['stage']})" if where.get("stage") else None
        print(f"error: {write_failure(err, folder)}", file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main() -> None:
    """The command line: --help, then the config composed and checked (one line and exit 2 for anything bad,
    before Hydra creates a folder), then Hydra's app."""
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        try:
            print(help_text(), flush=True)
        except BrokenPipeError:  # `--help | head`: the reader left early
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    sys.argv[1:] = renamed(sys.argv[1:])
    try:
        check_command_line(sys.argv[1:])
    except DoremiError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    run()


if __name__ == "__main__":
    main()
