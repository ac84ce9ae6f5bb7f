"""DoReMi (Xie et al., 2023): a reference model, a proxy trained with Group DRO against it, the
averaged weights. The default method; `stage=proxy` and its files are unchanged: learning runs the
reference and proxy stages (reusing them when done) and takes proxy/mixture.json as it is.

Variants are rows of stage=compare with DoReMi's remedies for unstable weights: the paper's
default, `dro.burn_in`, `dro.warm_start`, and the original repository's advice (its issue #5) of a
reference on natural proportions with η = 0.1.
"""

from __future__ import annotations

from omegaconf import DictConfig

from doremi.files import read_json, read_jsonl
from doremi.stages.graph import TABLE, locate
from doremi.stages.methods.base import LearnContext, Method
from doremi.stages.run import run_recipe


def learn(ctx: LearnContext) -> dict:
    for stage in ("reference", "proxy"):
        run_recipe(ctx.cfg, stage)
    mixture = read_json(locate(ctx.cfg, "proxy_mixture"), "rerun stage=proxy with overwrite=true")
    mixture["provenance"]["method"] = ctx.name
    return mixture


def report(cfg: DictConfig, mixture: dict, folder) -> list:
    """The proxy's weights over its steps, the rounds of iterated DoReMi, the trust checks."""
    from doremi.report import plots
    from doremi.report.document import rounds_section, trajectory_section, trust_section

    proxy = locate(cfg, "proxy_mixture").parent
    trajectory = read_jsonl(trajectory_file(proxy, mixture))
    plots.weights_over_steps(mixture["domains"], trajectory, folder / "weights_over_steps.png")
    out = [trajectory_section(mixture), trust_section(mixture)]
    rounds_file = locate(cfg, "rounds")
    if rounds_file.exists():
        rounds = read_json(rounds_file, "")
        plots.weights_per_round(mixture["domains"], rounds, folder / "rounds.png")
        out.append(rounds_section(rounds))
    return out


def trajectory_file(proxy_dir, mixture: dict):
    """proxy/trajectory.jsonl, or with proxy.seeds the first seed's (with rounds: the last round's)."""
    seeds = mixture["provenance"].get("seeds", [])
    if len(seeds) < 2:
        return proxy_dir / "trajectory.jsonl"
    rounds = sorted(proxy_dir.glob("round-*"), key=lambda p: int(p.name.split("-")[1]))
    return (rounds[-1] if rounds else proxy_dir) / f"seed-{seeds[0]}" / "trajectory.jsonl"


SETTINGS = tuple(TABLE["proxy"].settings)
WRITES = ("learned_mixture", "reference_model", "proxy_mixture", "trajectory")

METHOD = Method(
    "doremi",
    "reference LM + Group DRO proxy, averaged weights (Xie et al., 2023)",
    learn,
    writes=WRITES,
    settings=SETTINGS,
    report=report,
    trains=True,
)

VARIANTS = (
    Method(
        "doremi+burn_in",
        "DoReMi averaging the weights after the first 20% of proxy steps",
        learn,
        settings=SETTINGS,
        report=report,
        overrides=lambda cfg: {"dro.burn_in": 0.2},
        trains=True,
    ),
    Method(
        "doremi+warm_start",
        "DoReMi whose proxy first trains a sixth of its steps on uniform weights",
        learn,
        settings=SETTINGS,
        report=report,
        overrides=lambda cfg: {"dro.warm_start": max(1, int(cfg.proxy.max_steps) // 6)},
        trains=True,
    ),
    Method(
        "doremi+natural_ref",
        "DoReMi with a reference on natural proportions and eta = 0.1 (DoReMi repository, issue #5)",
        learn,
        settings=SETTINGS,
        report=report,
        overrides=lambda cfg: {"reference.mixture": "natural", "dro.eta": 0.1},
        trains=True,
    ),
)
