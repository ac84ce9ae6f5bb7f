"""`python -m doremi stage=... key=value ...`: a Hydra app that dispatches to doremi.stages."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from doremi.errors import DoremiError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _separate_multirun_jobs(cfg: DictConfig) -> None:
    """In a multirun, jobs get their own run_dir and name unless the sweep sets them."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    overridden = {o.split("=", 1)[0].lstrip("+~") for o in hydra_cfg.overrides.task}
    with open_dict(cfg):
        if "run_dir" not in overridden:
            cfg.run_dir = hydra_cfg.runtime.output_dir
        if "name" not in overridden:
            cfg.name = f"{cfg.name}-{hydra_cfg.job.num}"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from doremi.stages import run_stage

    try:
        _separate_multirun_jobs(cfg)
        run_stage(cfg)
    except DoremiError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except OSError as err:  # a full disk, a file where a directory should be, no permission
        where = f" {err.filename}" if err.filename else ""
        print(
            f"error: could not read or write{where}: {err.strerror or err}; free space or fix the path",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
