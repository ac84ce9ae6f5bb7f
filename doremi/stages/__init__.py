"""One module per stage; each is a function from a config and input files to output files."""

from __future__ import annotations

from omegaconf import DictConfig

from doremi.errors import DoremiError

PIPELINE = ("prepare", "reference", "proxy", "final", "report")
STAGES = (*PIPELINE, "sft_mix", "sft", "export", "all")


def run_stage(cfg: DictConfig) -> None:
    """Run `cfg.stage` (or the whole pipeline for `all`) and print the summary when there is one."""
    import importlib

    from doremi.stages.common import quiet_lightning

    quiet_lightning()
    stage = str(cfg.stage)
    if stage not in STAGES:
        from doremi.mixture import closest

        raise DoremiError(f"stage={stage} is not a stage{closest(stage, STAGES)}; choose one of {', '.join(STAGES)}")
    summary = None
    for name in PIPELINE if stage == "all" else (stage,):
        summary = importlib.import_module(f"doremi.stages.{name}").run(cfg)
    if summary:
        print(summary, flush=True)
