"""DoReMi (Xie et al., 2023): a reference model, a proxy trained with Group DRO against it, the
averaged weights. The default method; `stage=proxy` and its files are unchanged: learning runs the
reference and proxy stages first (`needs`, reused when done) and takes proxy/mixture.json as it is.

Variants are rows of stage=compare with DoReMi's remedies for unstable weights: the paper's
default, `dro.burn_in`, `dro.warm_start`, and the original repository's advice (its issue #5) of a
reference on natural proportions with η = 0.1.
"""

from __future__ import annotations

from doremi.methods.base import LearnContext, Method, ReportContext
from doremi.store.files import read_json, read_jsonl

NEEDS = ("reference", "proxy")


def learn(ctx: LearnContext) -> dict:
    mixture = read_json(ctx.locate("proxy_mixture"), "rerun stage=proxy with overwrite=true")
    mixture["provenance"]["method"] = ctx.name
    return mixture


def report(ctx: ReportContext) -> list:
    """The proxy's weights over its steps, the rounds of iterated DoReMi, the trust checks."""
    from doremi.outputs.report import plots

    mixture, folder = ctx.mixture, ctx.folder
    proxy = ctx.locate("proxy_mixture").parent
    trajectory = read_jsonl(trajectory_file(proxy, mixture))
    plots.weights_over_steps(mixture["domains"], trajectory, folder / "weights_over_steps.png")
    out = [trajectory_section(mixture), trust_section(mixture)]
    rounds_file = ctx.locate("rounds")
    if rounds_file.exists():
        rounds = read_json(rounds_file, "")
        plots.weights_per_round(mixture["domains"], rounds, folder / "rounds.png")
        out.append(rounds_section(rounds))
    return out


def rounds_section(rounds: list[dict]) -> tuple[str, list]:
    domains = list(rounds[0]["weights"])
    header = ["round", *domains, "L1 change"]
    rows = [
        [
            str(r["round"]),
            *(f"{r['weights'][d]:.4f}" for d in domains),
            "" if r["l1_change"] is None else f"{r['l1_change']:.4f}",
        ]
        for r in rounds
    ]
    text = "Iterated DoReMi: each round's reference trained on the previous round's weights."
    return ("Rounds", [text, (header, rows), {"src": "rounds.png", "alt": "weights per round"}])


def trajectory_section(mixture: dict) -> tuple[str, list]:
    prov = mixture.get("provenance", {})
    return (
        "Weights over proxy steps",
        [
            "The proxy's weights alpha_t at every step; the learned mixture is their average (dashed)"
            + (
                f", from step {prov['steps'] - prov['averaged_steps'] + 1} on (dro.burn_in)"
                if prov.get("burn_in")
                else ""
            )
            + ("; the first seed's run is shown" if len(prov.get("seeds", [])) > 1 else "")
            + ".",
            {"src": "weights_over_steps.png", "alt": "weights over proxy steps"},
        ],
    )


def trust_section(mixture: dict) -> tuple[str, list]:
    """Whether the weights can be trusted: seeds' agreement and the diagnostics' warnings."""
    prov = mixture.get("provenance", {})
    found = prov.get("diagnostics", {})
    parts: list = []
    seeds = prov.get("seeds", [])
    if len(seeds) > 1:
        spread = found.get("seed_spread", {})
        parts.append(
            f"The weights are the mean of {len(seeds)} proxy runs (seeds {', '.join(map(str, seeds))}); "
            f"the runs are up to {found.get('seeds_l1', 0):.3f} apart in L1. Standard deviation per domain: "
            + ", ".join(f"{d} {v:.4f}" for d, v in spread.items())
            + " (error bars in the weights plot)."
        )
    else:
        parts.append("One proxy run (proxy.seeds=1): how much the weights move with the seed is not measured.")
    if "transient_share" in found:
        shares = ", ".join(f"{x:.0%}" for x in found["transient_share"])
        parts.append(f"Share of the weights' distance from uniform made by the first 10% of averaged steps: {shares}.")
    warnings = found.get("warnings", [])
    parts += [f"**Warning:** {w}." for w in warnings] or ["No diagnostic warned about these weights."]
    return ("Can these weights be trusted?", parts)


def describe(prov: dict) -> str:
    """The intro's words: the proxy's run."""
    return (
        f"{prov.get('steps', '?')} proxy steps, eta={prov.get('eta')}, smoothing={prov.get('smoothing')}, "
        f"seed={prov.get('seed')}, tokenizer {prov.get('tokenizer', {}).get('kind')}"
    )


def cost_words(cost: dict) -> str:
    """What learning cost: the references and proxy runs of every round and seed."""
    if "rounds" not in cost:
        return f"({cost.get('what', 'as the method reports')})"
    runs = f"{cost['rounds']} reference(s), {cost['rounds'] * cost['proxy_seeds']} proxy run(s)"
    return (
        f"({runs} of {cost['parameters']:,} parameters); "
        "stage=plan plan.target_params=... plan.token_budget=... states it as a share of the real run"
    )


def trajectory_file(proxy_dir, mixture: dict):
    """proxy/trajectory.jsonl, or with proxy.seeds the first seed's (with rounds: the last round's)."""
    seeds = mixture["provenance"].get("seeds", [])
    if len(seeds) < 2:
        return proxy_dir / "trajectory.jsonl"
    rounds = sorted(proxy_dir.glob("round-*"), key=lambda p: int(p.name.split("-")[1]))
    return (rounds[-1] if rounds else proxy_dir) / f"seed-{seeds[0]}" / "trajectory.jsonl"


METHOD = Method(
    "doremi",
    "reference LM + Group DRO proxy, averaged weights (Xie et al., 2023)",
    learn,
    needs=NEEDS,
    report=report,
    describe=describe,
    cost_words=cost_words,
    made_by="proxy",
)

VARIANTS = (
    Method(
        "doremi+burn_in",
        "DoReMi averaging the weights after the first 20% of proxy steps",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"dro.burn_in": 0.2},
    ),
    Method(
        "doremi+warm_start",
        "DoReMi whose proxy first trains a sixth of its steps on uniform weights",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"dro.warm_start": max(1, int(cfg.proxy.max_steps) // 6)},
    ),
    Method(
        "doremi+natural_ref",
        "DoReMi with a reference on natural proportions and eta = 0.1 (DoReMi repository, issue #5)",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"reference.mixture": "natural", "dro.eta": 0.1},
    ),
)
