"""DoReMi's part of the report: the proxy's weights over its steps, the rounds of iterated DoReMi, whether the
weights can be trusted, and its words for the report's intro and cost line."""

from __future__ import annotations

from pathlib import Path

from doremi.methods.base import ReportContext
from doremi.store.files import read_json, read_jsonl


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
        weights_per_round(mixture["domains"], rounds, folder / "rounds.png")
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


def weights_per_round(domains: list[str], rounds: list[dict], path: Path) -> Path:
    """Iterated DoReMi: each domain's weight after every round, and the L1 change between rounds."""
    from doremi.outputs.report.plots import plt, save

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    numbers = [r["round"] for r in rounds]
    for domain in domains:
        left.plot(numbers, [r["weights"][domain] for r in rounds], marker="o", label=domain)
    left.set_xlabel("round")
    left.set_ylabel("domain weight")
    left.set_title("Weights per round")
    left.legend(fontsize=8)
    changes = [(r["round"], r["l1_change"]) for r in rounds if r["l1_change"] is not None]
    right.bar([c[0] for c in changes], [c[1] for c in changes])
    right.set_xlabel("round")
    right.set_ylabel("L1 change from the previous round")
    right.set_title("Change between rounds")
    return save(fig, path)
