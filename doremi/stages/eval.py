"""stage=eval: downstream tasks on every final model with lm-evaluation-harness.

Reads ${run_dir}/final/<mixture>/seed-<k>/hf/ (the Hugging Face checkpoints stage=final
saves); writes ${run_dir}/eval/downstream.json and publishes it as final/downstream.json:
every task's metrics per mixture and seed, and their mean over seeds. Needs the `eval`
extra (`pip install "doremi-mix[eval]"`). `eval.tasks` names lm-eval tasks (hub datasets,
online) or tasks defined in YAML files under `eval.include_path` (local data).
"""

from __future__ import annotations

import math
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from doremi.config.errors import DoremiError
from doremi.pipeline.common import commit, stage_dir, start
from doremi.store.files import write_json_atomic
from doremi.store.runtime import say


def final_models(cfg: DictConfig) -> dict[str, dict[str, Path]]:
    """{mixture: {seed: hf checkpoint dir}} of the finished final stage."""
    final = stage_dir(cfg, "final")
    if not (final / "done.json").exists():
        raise DoremiError(f"{final} is not finished: run stage=final first (same run_dir=)")
    models: dict[str, dict[str, Path]] = {}
    for hf in sorted(final.glob("*/seed-*/hf")):
        models.setdefault(hf.parent.parent.name, {})[hf.parent.name.removeprefix("seed-")] = hf
    if not models:
        raise DoremiError(
            f"{final} has no Hugging Face checkpoints (final/<mixture>/seed-<k>/hf): rerun stage=final with "
            "trainer.hf_checkpoints=true overwrite=true"
        )
    return models


def numbers(results: dict) -> dict[str, float]:
    """lm-eval's per-task results without its aliases and non-numbers ({"acc,none": 0.5} -> {"acc": 0.5})."""
    out = {}
    for key, value in results.items():
        if key == "alias" or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        out[key.split(",")[0]] = float(value)
    return out


def task_manager(tasks: list[str], settings: dict):
    """lm-eval's task index (its own tasks and eval.include_path's), built once; unknown task names refused."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise DoremiError('stage=eval needs lm-evaluation-harness: pip install "doremi-mix[eval]"') from None
    include = settings.get("include_path")
    manager = TaskManager(include_path=str(include) if include else None)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise DoremiError(
            f"eval.tasks: {unknown[0]!r} is not an lm-eval task; name one of lm-eval's tasks or define it in a "
            "YAML file under eval.include_path"
        )
    return manager


def evaluate(model_dir: Path, tasks: list[str], settings: dict, manager) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} of one checkpoint, through lm-eval's own Hugging Face model class."""
    import lm_eval

    out = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir), "dtype": "float32", "device": settings.get("device") or "cpu"},
        tasks=tasks,
        num_fewshot=settings.get("num_fewshot"),
        batch_size=int(settings.get("batch_size") or 8),
        limit=settings.get("limit"),
        task_manager=manager,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    return {task: numbers(out["results"][task]) for task in tasks}


def mean_over_seeds(per_seed: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    tasks = next(iter(per_seed.values()))
    return {
        task: {
            metric: math.fsum(seed[task][metric] for seed in per_seed.values()) / len(per_seed)
            for metric in tasks[task]
        }
        for task in tasks
    }


def run(cfg: DictConfig) -> None:
    settings = OmegaConf.to_container(cfg.eval, resolve=True)
    tasks = list(settings.get("tasks") or [])
    if not tasks:
        raise DoremiError("stage=eval needs eval.tasks=[task, ...] (lm-eval task names, e.g. eval.tasks=[arc_easy])")
    models = final_models(cfg)
    manager = task_manager(tasks, settings)
    out = start(cfg, "eval", publish={"downstream.json": stage_dir(cfg, "final") / "downstream.json"})
    if out is None:
        return
    results: dict[str, dict[str, dict]] = {}
    for mixture, seeds in models.items():
        results[mixture] = {}
        for seed, model_dir in seeds.items():
            say(f"[eval] {mixture} seed {seed}: {', '.join(tasks)}")
            results[mixture][seed] = evaluate(model_dir, tasks, settings, manager)
    write_json_atomic(
        out.tmp / "downstream.json",
        {
            "tasks": tasks,
            "num_fewshot": settings.get("num_fewshot"),
            "limit": settings.get("limit"),
            "mean": {mixture: mean_over_seeds(per_seed) for mixture, per_seed in results.items()},
            "seeds": results,
        },
    )
    commit(out)
    say(f"[eval] wrote {stage_dir(cfg, 'eval') / 'downstream.json'} and final/downstream.json")
