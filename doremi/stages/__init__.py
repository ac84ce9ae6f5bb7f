"""One module per stage; each is a function from a config and input files to output files.
The stage graph (recipes, artifacts, inputs, settings) is one table: doremi.pipeline.graph."""

from __future__ import annotations

import re

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.pipeline.graph import PIPELINE, STAGES, TABLE  # noqa: F401  (the graph, re-exported)
from doremi.stages.run import run_recipe

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def check_name(name: str) -> None:
    """`name` becomes a file name under mixtures_dir and reports_dir: refuse anything that could leave them."""
    if not SAFE_NAME.fullmatch(name) or set(name) == {"."}:
        raise DoremiError(
            f"name={name!r}: a run name is a file name of letters, digits, '.', '_', '+' and '-', starting with a "
            "letter or digit (it names mixtures/<name>.json and reports/<name>/); choose another name="
        )


def preflight(cfg: DictConfig) -> None:
    """Everything refused before a stage starts: an unknown stage or method, a bad name, a setting outside the
    schema's bounds or rules, a missing input stage of a training stage, trainer.* settings Lightning refuses."""
    stage = str(cfg.stage)
    if stage not in STAGES:
        from doremi.data.mixture import closest

        raise DoremiError(f"stage={stage} is not a stage{closest(stage, STAGES)}; choose one of {', '.join(STAGES)}")
    check_name(str(cfg.name))
    from doremi.config.settings import check

    check(cfg)
    if stage in ("learn", "all", "compare"):
        from doremi.methods import entries, known, resolve
        from doremi.pipeline.graph import method_settings

        method = resolve(str(cfg.method))
        if stage == "compare":
            entries(cfg.compare.methods)
        if stage == "learn" and cfg.target.paths and "learn.target" not in method_settings(method):
            aiming = [m for m in known() if "learn.target" in resolve(m).settings]
            raise DoremiError(
                f"method={method.name} does not aim at a target: target.paths is read by stage=compare (which judges "
                f"every method on it) and by {', '.join(aiming)}; drop target.paths or choose one of those"
            )
    if stage in ("sft_mix", "sft_compare"):
        from doremi.sft import methods as sft_methods

        chosen = sft_methods.resolve("learned" if cfg.sft.mixture == "learned" else str(cfg.sft.method))
        if stage == "sft_mix" and cfg.sft.target.paths and not chosen.uses_target:
            aiming = [m for m in sft_methods.known() if sft_methods.resolve(m).uses_target]
            raise DoremiError(
                f"sft.method={chosen.name} does not select toward a target: sft.target.paths is read by "
                f"stage=sft_compare (which judges every set on it) and by {', '.join(aiming)}; drop it or choose one"
            )
        if stage == "sft_compare":
            sft_methods.entries(cfg.sft.compare.methods)
    if stage != "all" and not TABLE[stage].light:  # a missing or unfinished input stage, named before anything is made
        from doremi.pipeline.common import declared
        from doremi.pipeline.graph import ARTIFACTS, names, require

        first = names(TABLE[stage].runs_first, cfg)
        for artifact in declared(stage, cfg)[0]:
            if ARTIFACTS[artifact].stage not in first:
                require(cfg, artifact, stage)
    if stage == "all" or not TABLE[stage].light:
        from doremi.config.settings import lightning_choices
        from doremi.pipeline.common import quiet_lightning

        quiet_lightning()
        lightning_choices(cfg)
        from doremi.config import settings
        from doremi.training.train import check_combination

        check_combination(settings.of(cfg, settings.TrainerSettings))


def run_stage(cfg: DictConfig) -> None:
    """Run `cfg.stage` (or the whole pipeline for `all`) and print the summary when there is one."""
    preflight(cfg)
    summary = None
    for name in PIPELINE if str(cfg.stage) == "all" else (str(cfg.stage),):
        summary = run_recipe(cfg, name)
    if summary:
        print(summary, flush=True)
