"""Running one stage's recipe under the stage's lock. The only module that imports recipes by name: the
stage table (doremi.pipeline.graph) names stages, a stage's recipe is the module of its name (the stage list is written once), and recipes never
import this module (a recipe that runs other stages, as learn runs a method's stages, is handed
`run_recipe` as its `runner`), so imports run one way: here -> recipes -> the table -> methods."""

from __future__ import annotations

import importlib
import inspect

from omegaconf import DictConfig

from doremi.pipeline.graph import TABLE

RECIPES = {name: f"doremi.stages.{name}" for name in TABLE}  # a stage's recipe is the module of its name


def run_recipe(cfg: DictConfig, name: str):
    """Run one stage's recipe under its lock (main process); its summary, if it has one."""
    from doremi.store.lock import stage_lock
    from doremi.store.runtime import is_main_process, where

    recipe = importlib.import_module(RECIPES[name])
    outer = {k: where.get(k) for k in ("stage", "step")}  # a recipe run by another (learn's proxy, compare's prepare)
    where.update(stage=name, step=None)
    kwargs = {"runner": run_recipe} if "runner" in inspect.signature(recipe.run).parameters else {}
    locked = TABLE[name].locked(cfg) if callable(TABLE[name].locked) else TABLE[name].locked
    if locked and is_main_process():
        with stage_lock(cfg.run_dir, name):
            result = recipe.run(cfg, **kwargs)
    else:
        result = recipe.run(cfg, **kwargs)
    where.update(outer)  # only once it is done: a stage stopped by a signal or an error stays named in `where`
    return result
