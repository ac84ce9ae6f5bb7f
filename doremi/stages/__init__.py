"""One module per stage; each is a function from a config and input files to output files."""

from __future__ import annotations

import re

from omegaconf import DictConfig

from doremi.errors import DoremiError

PIPELINE = ("prepare", "reference", "proxy", "final", "report")
STAGES = (*PIPELINE, "sft_mix", "sft", "eval", "export", "plan", "all")


# Stages that write under run_dir: one process at a time each (doremi.lock).
LOCKED = ("prepare", "reference", "proxy", "final", "sft_mix", "sft", "eval", "report")

# Stages that train nothing: they must not import torch or Lightning (a quick `stage=export`).
LIGHT = ("export", "plan")

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def check_name(name: str) -> None:
    """`name` becomes a file name under mixtures_dir and reports_dir: refuse anything that could leave them."""
    if not SAFE_NAME.fullmatch(name):
        raise DoremiError(
            f"name={name!r}: a run name is a file name of letters, digits, '.', '_', '+' and '-', starting with a "
            "letter or digit (it names mixtures/<name>.json and reports/<name>/); choose another name="
        )


def run_stage(cfg: DictConfig) -> None:
    """Run `cfg.stage` (or the whole pipeline for `all`) and print the summary when there is one."""
    import importlib

    stage = str(cfg.stage)
    if stage not in STAGES:
        from doremi.mixture import closest

        raise DoremiError(f"stage={stage} is not a stage{closest(stage, STAGES)}; choose one of {', '.join(STAGES)}")
    check_name(str(cfg.name))
    from doremi.settings import check

    check(cfg)
    from doremi.lock import stage_lock
    from doremi.runtime import is_main_process

    if stage not in LIGHT:
        from doremi.stages.common import quiet_lightning

        quiet_lightning()
    summary = None
    for name in PIPELINE if stage == "all" else (stage,):
        recipe = importlib.import_module(f"doremi.stages.{name}")
        if name in LOCKED and is_main_process():
            with stage_lock(cfg.run_dir, name):
                summary = recipe.run(cfg)
        else:
            summary = recipe.run(cfg)
    if summary:
        print(summary, flush=True)
