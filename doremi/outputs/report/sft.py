"""The report's section for stage=sft_compare: the SFT leaderboard, its recommendation and forgetting, first."""

from __future__ import annotations

COSTS = {"forward_passes": ("forward pass", "forward passes"), "fits": ("classifier fit", "classifier fits"),
         "fine_tune_steps": ("fine-tuning step", "fine-tuning steps")}  # fmt: skip


def cost_words(cost: dict) -> str:
    """What choosing a set cost, in words ("4,906 forward passes", "1 classifier fit"), or "none"."""
    spent = [f"{cost[k]:,} {one if cost[k] == 1 else many}" for k, (one, many) in COSTS.items() if cost.get(k)]
    return ", ".join(spent) or "none"


def sft_compare_section(board: dict) -> tuple[str, list]:
    kind = board["target"]["kind"]
    header = ["set", "examples", "dev loss", f"vs random ({kind})", "verdict", "worst source vs random",
              "forgetting", "forgetting vs random", "selection cost"]  # fmt: skip
    rows = []
    for row in board["rows"]:
        mine = row["vs"].get("random", {})
        judged, worst = mine.get(kind), mine.get("worst")
        forget = row["forgetting"]["vs"].get("random", {})
        cost = row["cost"]
        spent = cost_words(cost)
        rows.append([
            f"**{row['method']}**" if row["method"] == board["recommendation"]["method"] else row["method"],
            str(row["examples"]), f"{row['average']:.4f}",
            f"{judged['difference']:+.4f} [{judged['interval'][0]:+.4f}, {judged['interval'][1]:+.4f}]" if judged else "(control)",
            judged["verdict"] if judged else "",
            f"{worst['difference']:+.4f} ({worst['verdict']})" if worst else "",
            f"{row['forgetting']['increase']:+.4f}",
            f"{forget['difference']:+.4f} ({forget['verdict']})" if forget else "",
            spent,
        ])  # fmt: skip
    dev = sum(v["dev"] for v in board["dev_set"].values())
    budget = board["budget"]
    how = f"LoRA r={budget['lora']['r']}" if budget.get("lora") else "full fine-tuning"
    parts: list = [
        board["recommendation"]["line"],
        f"Each SFT set ({budget['examples']} examples) fine-tuned the same base model ({board['base']}) for "
        f"{budget['epochs']} epochs ({budget['steps']} steps, {how}) with seeds {board['seeds']}; every model scored "
        f"on the same {dev} dev examples, held out of the pools before any method saw them (loss on response "
        "tokens, nats/token). Verdicts against random hold together for the whole family (Sidak). Forgetting: the "
        "pretraining held-out loss after fine-tuning minus the base model's "
        f"({board['rows'][0]['forgetting']['before']:.4f} nats/token).",
        (header, rows),
        {
            "src": "sft_leaderboard.png",
            "alt": "each SFT set's dev loss minus random's and stratified's, with intervals",
        },
        f"The recommended set, with exports for LLaMA-Factory, TRL and Axolotl: {board['published']}.",
    ]
    if board.get("caveat"):
        parts.append(f"Note: {board['caveat']}.")
    parts.append("How to read it: docs/guides/sft.md and docs/concepts/verdicts.md in doremi's repository.")
    return ("Which SFT set should I fine-tune on?", parts)


def summary_text(board: dict) -> str:
    """The SFT leaderboard as printed at the end of stage=sft_compare."""
    kind = board["target"]["kind"]
    header = ["set", "examples", "dev loss", f"vs random ({kind})", "verdict", "worst source vs random", "forgetting", "selection cost"]  # fmt: skip
    lines = ["", "  ".join(header)]
    for row in board["rows"]:
        mine = row["vs"].get("random", {})
        judged, worst = mine.get(kind), mine.get("worst")
        cost = row["cost"]
        spent = cost_words(cost)
        lines.append("  ".join([
            row["method"], str(row["examples"]), f"{row['average']:.4f}",
            f"{judged['difference']:+.4f} [{judged['interval'][0]:+.4f}, {judged['interval'][1]:+.4f}]" if judged else "(control)",
            judged["verdict"] if judged else "",
            f"{worst['difference']:+.4f} {worst['verdict']}" if worst else "",
            f"{row['forgetting']['increase']:+.4f}", spent,
        ]))  # fmt: skip
    lines.append("")
    lines.append(
        f"Dev set: the same {sum(v['dev'] for v in board['dev_set'].values())} held-out examples for every set (nats/token "
        f"on response tokens); seeds {board['seeds']}; forgetting: the pretraining held-out loss after fine-tuning minus "
        f"the base model's ({board['rows'][0]['forgetting']['before']:.4f})."
    )  # fmt: skip
    if board.get("caveat"):
        lines.append(f"Note: {board['caveat']}.")
    lines.append(board["recommendation"]["line"])
    lines.append(f"published: {board['published']} (the recommended set: train.jsonl, sources/, exports/)")
    return "\n".join(lines)
