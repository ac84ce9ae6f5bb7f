"""The report's section for stage=sft_compare: the SFT leaderboard, its recommendation and forgetting, first."""

from __future__ import annotations

from doremi.outputs.report.tables import DECISION_HEADER, decision_cells, plain_table

COSTS = {
    "forward_passes": ("forward pass", "forward passes"),
    "fits": ("classifier fit", "classifier fits"),
    "fine_tune_steps": ("fine-tuning step", "fine-tuning steps"),
}


def cost_words(cost: dict) -> str:
    """What choosing a set cost, in words ("4,906 forward passes", "1 classifier fit"), or "none"."""
    spent = [f"{cost[k]:,} {one if cost[k] == 1 else many}" for k, (one, many) in COSTS.items() if cost.get(k)]
    return ", ".join(spent) or "none"


def sft_compare_section(board: dict) -> tuple[str, list]:
    kind = board["target"]["kind"]
    header = [
        "set",
        "examples",
        "dev loss",
        *[f"{h} ({kind} vs random)" if h == "estimate" else h for h in DECISION_HEADER],
        "worst source vs random",
        "forgetting",
        "forgetting vs random",
        "selection cost",
    ]
    rows = []
    for row in board["rows"]:
        mine = row["vs"].get("random", {})
        worst = mine.get("worst")
        forget = row["forgetting"]["vs"].get("random", {})
        cost = row["cost"]
        spent = cost_words(cost)
        rows.append(
            [
                f"**{row['method']}**" if row["method"] == board["recommendation"]["method"] else row["method"],
                str(row["examples"]),
                f"{row['average']:.4f}",
                *decision_cells(row, "random", kind),
                f"{worst['difference']:+.4f} ({worst['verdict']})" if worst else "",
                f"{row['forgetting']['increase']:+.4f}",
                f"{forget['difference']:+.4f} ({forget['verdict']})" if forget else "",
                spent,
            ]
        )
    dev = sum(v["dev"] for v in board["dev_set"].values())
    budget = board["budget"]
    how = f"LoRA r={budget['lora']['r']}" if budget.get("lora") else "full fine-tuning"
    parts: list = [
        board["recommendation"]["line"],
        f"Each SFT set ({budget['examples']} examples) fine-tuned the same base model ({board['base']}) for "
        f"{budget['epochs']} epochs ({budget['steps']} steps, {how}) with seeds {board['seeds']}; every model scored "
        f"on the same {dev} dev examples, held out of the pools before any method saw them (loss on response "
        "tokens, nats/token). The decision against random is one-sided, its bound printed ('decided better' exactly "
        "when it lies below 0), held together over the confirmed sets (Bonferroni): the upper end of the two-sided "
        "interval printed beside it. Forgetting: the "
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
    header = [
        "set",
        "examples",
        "dev loss",
        *[f"{h} ({kind} vs random)" if h == "estimate" else h for h in DECISION_HEADER],
        "worst source vs random",
        "forgetting",
        "selection cost",
    ]
    table = []
    for row in board["rows"]:
        mine = row["vs"].get("random", {})
        worst = mine.get("worst")
        cost = row["cost"]
        spent = cost_words(cost)
        table.append(
            [
                row["method"],
                str(row["examples"]),
                f"{row['average']:.4f}",
                *decision_cells(row, "random", kind),
                f"{worst['difference']:+.4f} {worst['verdict']}" if worst else "",
                f"{row['forgetting']['increase']:+.4f}",
                spent,
            ]
        )
    lines = ["", *plain_table(header, table), ""]
    lines.append(
        f"Dev set: the same {sum(v['dev'] for v in board['dev_set'].values())} held-out examples for every set (nats/token "
        f"on response tokens); seeds {board['seeds']}; forgetting: the pretraining held-out loss after fine-tuning minus "
        f"the base model's ({board['rows'][0]['forgetting']['before']:.4f})."
    )
    if board.get("caveat"):
        lines.append(f"Note: {board['caveat']}.")
    if board.get("design", {}).get("kind") == "screen":
        lines.append(f"Design: {board['design']['describe']}.")
    lines.append(board["recommendation"]["line"])
    lines.append(f"published: {board['published']} (the recommended set: train.jsonl, sources/, exports/)")
    return "\n".join(lines)
