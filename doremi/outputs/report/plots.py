"""The report's plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def weights_bar(
    domains: list[str],
    series: dict[str, dict[str, float]],
    path: Path,
    errors: dict[str, dict[str, float]] | None = None,
) -> Path:
    """Learned weights beside baseline weights, one group of bars per domain; `errors`
    (name -> {domain: standard deviation}, e.g. over proxy seeds) become error bars."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(domains) + 2), 4))
    width = 0.8 / len(series)
    x = np.arange(len(domains))
    for i, (name, weights) in enumerate(series.items()):
        spread = (errors or {}).get(name)
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [weights[d] for d in domains],
            width,
            label=name,
            yerr=[spread[d] for d in domains] if spread else None,
            capsize=3 if spread else 0,
        )
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set_ylabel("share of tokens")
    ax.set_title("Domain weights: learned vs baselines")
    ax.legend()
    return save(fig, path)


def weights_over_steps(
    domains: list[str], trajectory: list[dict], path: Path, what: str = "Domain", steps_of: str = "proxy"
) -> Path:
    """alpha_t per domain over proxy steps (or another run's, `steps_of`), with the running average dashed."""
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in trajectory]
    for domain in domains:
        values = np.array([r["weights"][domain] for r in trajectory])
        line = ax.plot(steps, values, label=domain, linewidth=1)[0]
        ax.plot(steps, np.cumsum(values) / np.arange(1, len(values) + 1), "--", color=line.get_color(), linewidth=1)
    ax.set_xlabel(f"{steps_of} step")
    ax.set_ylabel(f"{what.lower()} weight")
    ax.set_title(f"{what} weights over {steps_of} steps (dashed: running average)")
    ax.legend(fontsize=8)
    return save(fig, path)


def domain_loss_bars(domains: list[str], results: dict[str, dict], path: Path) -> Path:
    """Held-out loss per domain for every trained mixture."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(domains) + 2), 4))
    width = 0.8 / len(results)
    x = np.arange(len(domains))
    for i, (name, result) in enumerate(results.items()):
        ax.bar(x + i * width - 0.4 + width / 2, [result["losses"][d] for d in domains], width, label=name)
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title("Final models: held-out loss per domain")
    ax.legend()
    return save(fig, path)


def loss_over_steps(results: dict[str, dict], path: Path) -> Path:
    """Average (solid, with a band from the lowest to the highest seed) and worst-domain
    (dashed) held-out loss over training steps."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, result in results.items():
        steps = [h["step"] for h in result["history"]]
        line = ax.plot(
            steps, [h["average"] for h in result["history"]], marker="o", markersize=3, label=f"{name} average"
        )[0]
        per_seed = [h.get("average_per_seed") for h in result["history"]]
        if all(per_seed) and len(per_seed[0]) > 1:
            ax.fill_between(
                steps, [min(p) for p in per_seed], [max(p) for p in per_seed], color=line.get_color(), alpha=0.2
            )
        ax.plot(steps, [h["worst"] for h in result["history"]], "--", color=line.get_color(), label=f"{name} worst")
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title("Final models: average and worst-domain held-out loss")
    ax.legend(fontsize=8)
    return save(fig, path)


def differences(domains: list[str], comparison: dict, candidate: str, path: Path) -> Path:
    """Per domain (and average, worst), the candidate's loss minus each baseline's, with its interval."""
    rows = [*domains, "average", "worst"]
    baselines = comparison["baselines"]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) * max(len(baselines), 1) + 1.5))
    height = 0.8 / max(len(baselines), 1)
    y = np.arange(len(rows))
    for i, (name, c) in enumerate(baselines.items()):
        entries = [c["domains"][d] for d in domains] + [c["average"], c["worst"]]
        centre = np.array([e["difference"] for e in entries])
        low = centre - np.array([e["interval"][0] for e in entries])
        high = np.array([e["interval"][1] for e in entries]) - centre
        ax.errorbar(centre, y + i * height - 0.4 + height / 2, xerr=[low, high], fmt="o", capsize=3, label=f"vs {name}")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows)
    ax.invert_yaxis()
    ax.set_xlabel(f"{candidate} loss minus baseline loss (nats/token); left of 0 = better")
    ax.set_title(
        f"Held-out loss difference, {round(comparison['level'] * 100)}% intervals, {comparison['seeds']} seed(s)"
    )
    ax.legend(fontsize=8)
    return save(fig, path)


def leaderboard(board: dict, path: Path) -> Path:
    """Each method's average loss minus stratified's and natural's, with intervals; best first."""
    rows = board["rows"]
    sft = board.get("kind") == "sft"  # stage=sft_compare's: SFT sets against random and stratified, on its target
    yours = board.get("target", {}).get(
        "decided_on", False
    )  # stage=compare judged on target.paths: that is what it shows
    baselines, key = (
        (("random", "stratified"), board["target"]["kind"])
        if sft
        else (("stratified", "natural"), "target" if yours else "average")
    )
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    y = np.arange(len(rows))
    for i, baseline in enumerate(baselines):
        centre, low, high, at = [], [], [], []
        for j, row in enumerate(rows):
            judged = row["vs"].get(baseline, {}).get(key)
            if judged:
                centre.append(judged["difference"])
                low.append(judged["difference"] - judged["interval"][0])
                high.append(judged["interval"][1] - judged["difference"])
                at.append(j + (i - 0.5) * 0.3)
        ax.errorbar(centre, at, xerr=[low, high], fmt="o", capsize=3, label=f"vs {baseline}")
    ax.axvline(0, color="black", linewidth=0.8)
    asked = (board.get("resolution") or {}).get("resolution")
    width = asked or (board.get("noise") or {}).get("median_detects")
    if width:  # what this comparison can see: differences inside the band are not resolved
        what = "compare.resolution" if asked else f"median half-width vs {baselines[0]}"
        ax.axvspan(-width, width, color="grey", alpha=0.15, label=f"±{width:.3f} ({what})")
    ax.set_yticks(y, [r["method"] for r in rows])
    ax.invert_yaxis()
    loss = f"{key} dev loss on response tokens" if sft else "your target's loss" if yours else "average held-out loss"
    ax.set_xlabel(f"{loss} minus the baseline's (nats/token); left of 0 = better")
    resolves = f"; resolves ±{width:.3f} nats/token" if width else ""
    ax.set_title(
        f"{'Which SFT set' if sft else 'Which mixture'}? {len(board['seeds'])} seed(s), 95% intervals{resolves}"
    )
    ax.legend(fontsize=8)
    return save(fig, path)
