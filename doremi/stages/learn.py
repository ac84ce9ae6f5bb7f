"""stage=learn method=<name>: learn the mixture with one method of doremi.methods.

Writes learn/<method>/mixture.json (the doremi-mixture/v1 format, `provenance.method` and
`provenance.cost` in FLOPs) and publishes it as mixtures/<name>.json. DoReMi keeps proxy/ (and
reference/) as its working folders. With `learn.feasible=true` the method's weights are projected
through the plan's constraints (doremi.outputs.plan: plan.max_epochs at the final run's budget, pinned,
minimum and maximum weights) before anything trains on them.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from doremi.data.mixture import make_mixture, write_mixture
from doremi.methods import LearnContext, Method, resolve
from doremi.methods.common import constraints
from doremi.outputs.plan import plan
from doremi.pipeline.common import commit, load_prepared, say, start
from doremi.pipeline.graph import locate, method_of, stage_dir


def variant_config(cfg: DictConfig, method: Method) -> DictConfig:
    """A variant learns in <run_dir>/variants/<name>/ with its settings changed, on this run's prepared data."""
    if method.overrides is None:
        return cfg
    derived = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    where = Path(cfg.run_dir) / "variants" / method.name
    with open_dict(derived):
        for key, value in method.overrides(cfg).items():
            OmegaConf.update(derived, key, value, merge=False)
        derived.run_dir = str(where)
        derived.mixtures_dir = str(where / "mixtures")
        derived.reports_dir = str(where / "reports")
        derived.prepare["reuse"] = str(stage_dir(cfg, "prepare").resolve())
    return derived


def feasible(cfg: DictConfig, data, mixture: dict) -> dict:
    """The mixture projected through the plan's constraints at the final run's budget (doremi.outputs.plan)."""
    learned = mixture["weights"]
    limits = constraints(cfg, data)
    result = plan(learned, **limits)
    provenance = {
        **mixture["provenance"],
        "feasible": {
            "learned": learned,
            "token_budget": limits["budget"],
            "binding": result.binding,
            "epochs": result.epochs,
            "kl_from_learned": result.kl,
        },
    }
    baselines = {k: list(v.values()) for k, v in mixture.get("baseline_weights", {}).items()}
    weights = [result.weights[d] for d in data.domains]
    return make_mixture(data.domains, weights, baselines, provenance)


def context(cfg: DictConfig, data, folder: Path, name: str) -> LearnContext:
    """A method's view of the stages: artifacts by name, the swarm of small runs and its scale check."""

    def swarm(train: bool):
        from doremi.stages.swarm import ensure

        return ensure(cfg, data, train=train)

    def scale_check(weights, kind, indices, found):
        from doremi.stages.swarm import scale_check

        return scale_check(cfg, data, weights, kind, indices, found)

    return LearnContext(cfg, data, folder, name, lambda artifact: locate(cfg, artifact), swarm, scale_check)


def run(cfg: DictConfig, publish: bool = True, runner=None) -> str | None:
    """Learn the mixture of `method`; the stages it needs run first (through `runner`, doremi.stages.run)."""
    name = method_of(cfg)
    method = resolve(name)
    learning = variant_config(cfg, method)
    for stage in method.needs:
        runner(learning, stage)
    data = load_prepared(cfg)
    published = {"mixture.json": Path(cfg.mixtures_dir) / f"{cfg.name}.json"} if publish else None
    out = start(cfg, "learn", publish=published)
    if out is None:
        return None
    say(f"[learn] method={name}: {method.doc}")
    mixture = method.learn(context(learning, data, out.tmp, name))
    if cfg.learn.feasible:
        mixture = feasible(cfg, data, mixture)
        binding = mixture["provenance"]["feasible"]["binding"]
        say(
            f"[learn] learn.feasible=true: {len(binding)} constraint(s) bind"
            + (f" ({', '.join(binding)})" if binding else "")
        )
    write_mixture(out.tmp / "mixture.json", mixture)
    commit(out)
    say(f"[learn] {name}: " + ", ".join(f"{d} {w:.3f}" for d, w in mixture["weights"].items()))
    say(f"[learn] wrote {out.final / 'mixture.json'}" + (f" and {published['mixture.json']}" if publish else ""))
    return None
