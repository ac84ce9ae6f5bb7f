"""Running one stage's recipe: the module the stage table names, under the stage's lock."""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from doremi.stages.graph import TABLE


def run_recipe(cfg: DictConfig, name: str):
    """Run one stage's recipe under its lock (main process); its summary, if it has one."""
    from doremi.lock import stage_lock
    from doremi.runtime import is_main_process, where

    recipe = importlib.import_module(TABLE[name].recipe)
    where.update(stage=name, step=None)
    if TABLE[name].locked and is_main_process():
        with stage_lock(cfg.run_dir, name):
            return recipe.run(cfg)
    return recipe.run(cfg)
