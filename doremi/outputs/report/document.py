"""The report's text: its sections in order (the answer first), the verdicts and the mixture in words, and the
terminal summary. The tables are doremi.outputs.report.tables'; the rendering is doremi.outputs.report.render's."""

from __future__ import annotations

from doremi.outputs.report.tables import (
    difference_table,
    factor,
    leaderboard_table,
    loss_table,
    plain_table,
    signed,
    span,
    weights_table,
)


def verdict_lines(evaluation: dict) -> list[str]:
    """One line per baseline: the candidate's differences, their intervals and the verdicts."""
    comparison = evaluation.get("comparison")
    if not comparison:
        return []
    name = evaluation.get("candidate", "learned")
    k = len(evaluation["domains"])
    level = round(comparison["level"] * 100)
    lines = [
        f"Verdicts for {name} ({comparison['seeds']} seed(s) per mixture, {level}% intervals; "
        "loss differences in nats/token, negative = lower loss than the baseline):"
    ]
    for baseline, c in comparison["baselines"].items():
        avg, worst, speed = c["average"], c["worst"], c["speedup"]
        lines.append(
            f"- vs {baseline}: average {signed(avg['difference'])} {span(avg['interval'])} → **{avg['verdict']}**"
            f"{detectable(avg)}; "
            f"worst domain {signed(worst['difference'])} {span(worst['interval'])} → {worst['verdict']}; "
            f"domains better {c['domains_better']}, worse {c['domains_worse']} of {k}; "
            f"speed-up to {baseline}'s final average loss {factor(speed['factor'])} "
            f"[{factor(speed['interval'][0])}, {factor(speed['interval'][1])}]"
        )
    if comparison.get("caveat"):
        lines.append(f"Note: {comparison['caveat']}.")
    return lines


def detectable(judged: dict) -> str:
    """' (detects ±h; about n seeds would halve it)': what a verdict could have seen."""
    if "half_width" not in judged:
        return ""
    n = judged.get("seeds_to_halve")
    halve = f"; about {n} seeds would halve it" if n else "; more held-out documents, not seeds, would narrow it"
    return f" (detects ±{judged['half_width']:.4f}{halve})"


def heldout_text(evaluation: dict) -> str:
    held = evaluation.get("heldout")
    if not held:
        return ""
    sequences, documents = sum(held["sequences"].values()), sum(held["documents"].values())
    where = (
        "the whole held-out split of every domain"
        if held["whole_split"]
        else f"up to {held['per_domain_cap']} held-out sequences per domain, evenly spread over each held-out split"
    )
    return (
        f"Scored on {where}: {sequences} sequences, {documents} documents, "
        f"{sum(held['tokens'].values()):,} tokens; the same for every mixture and seed."
    )


def sft_section(sft: dict) -> tuple[str, list]:
    sources = list(sft["dev_loss_after"])
    rows = [
        [s, f"{sft['dev_loss_before'].get(s, float('nan')):.3f}", f"{sft['dev_loss_after'][s]:.3f}"] for s in sources
    ]
    parts: list = [
        f"The final model fine-tuned on {sft['examples']} chats for {sft['steps']} steps (stage=sft). "
        "Dev loss on response tokens (nats/token) per source:",
        (["source", "before", "after"], rows),
    ]
    for sample in sft["samples"]:
        parts.append(f"**[{sample['source']}] {sample['prompt']}** → {sample['answer']!r}")
    return ("SFT", parts)


def downstream_section(downstream: dict) -> tuple[str, list]:
    """stage=eval's results: each task's metrics per mixture (mean over seeds), then per seed."""
    mixtures = list(downstream["mean"])
    header = ["task", "metric", *mixtures]
    rows = []
    for task in downstream["tasks"]:
        for metric in downstream["mean"][mixtures[0]][task]:
            rows.append([task, metric, *(f"{downstream['mean'][m][task][metric]:.4f}" for m in mixtures)])
    seeds = {m: len(per_seed) for m, per_seed in downstream["seeds"].items()}
    shots = downstream.get("num_fewshot")
    text = (
        f"lm-evaluation-harness on every final model ({'task default' if shots is None else shots}-shot"
        f"{', at most ' + str(downstream['limit']) + ' examples per task' if downstream.get('limit') else ''}); "
        f"mean over seeds ({', '.join(f'{m}: {n}' for m, n in seeds.items())}); per-seed values in "
        "final/downstream.json. With few seeds and small tasks these differences are mostly noise."
    )
    return ("Downstream tasks", [text, (header, rows)])


def sft_mix_section(manifest: dict) -> tuple[str, list]:
    """The SFT set: per source, the funnel, the weight and quota, the examples chosen."""
    header = ["source", "pool", "after filters and dedup", "weight", "quota", "train", "dev"]
    rows = [
        [
            s,
            str(manifest["funnel"][s]["pool"]),
            str(manifest["funnel"][s]["after_filters_and_dedup"]),
            f"{manifest['weights'].get(s, 0.0):.3f}",
            str(manifest["quotas"].get(s, 0)),
            str(manifest["train"][s]),
            str(manifest["dev"][s]),
        ]
        for s in manifest["sources"]
    ]
    parts: list = [
        f"The SFT set (stage=sft_mix): {sum(manifest['train'].values())} training chats "
        f"from {len(manifest['sources'])} sources.",
        (header, rows),
    ]
    if manifest.get("learned"):
        parts += [
            "Quotas learned with Group DRO over the sources (sft.mixture=learned): a reference fine-tuned on "
            "uniform quotas, a proxy weighting the sources by its excess loss on response tokens; the weights "
            "at every step, their average dashed:",
            {"src": "sft_weights_over_steps.png", "alt": "learned SFT source weights over steps"},
        ]
    return ("SFT mix", parts)


def intro(name: str, mixture: dict, words: tuple[str | None, str | None] = (None, None)) -> str:
    """What the mixture is: its method, in the method's own `words` (how it learned, what its cost went on)."""
    prov = mixture.get("provenance", {})
    method, k = prov.get("method", "an unnamed method"), len(mixture["domains"])
    how, cost_words = words
    text = (
        f"Mixture **{name}** learned with {method} over {k} domains: {how}."
        if how
        else f"Mixture **{name}** from method {method} over {k} domains."
    )
    text += " Weights are shares of tokens."
    if prov.get("cost"):
        text += " " + cost_line(prov["cost"], cost_words).removeprefix("cost: ").capitalize() + "."
    if prov.get("feasible"):
        binding = prov["feasible"]["binding"]
        text += (
            f" Projected through the plan's constraints (learn.feasible=true): "
            f"{', '.join(f'{d} ({why})' for d, why in binding.items()) or 'none binds'}."
        )
    return text


def target_words(target: dict) -> str:
    """What the ranking reads: the average, the worst domain, named domains, or your target's documents."""
    if target.get("decided_on"):
        said = target["external"]
        return f"your target ({said['documents']} documents of {', '.join(said['paths'])}, never trained on)"
    return target["kind"] + (f" ({', '.join(target['domains'])})" if target.get("domains") else "")


def leaderboard_section(board: dict) -> tuple[str, list]:
    seeds = ", ".join(map(str, board["seeds"]))
    budget = board["budget"]
    parts = [
        f"**{board['recommendation']['line']}**",
        f"Every method's mixture trained the same model with the same seeds ({seeds}) for {budget['steps']} steps "
        f"of {budget['batch_size']} sequences ({budget['tokens']:,} tokens); differences are held-out loss in "
        "nats/token, 95% intervals, negative = lower loss than the baseline. Cost: FLOPs of learning the mixture "
        "(and its share of one final run). Best first, by the difference from stratified on the "
        f"{target_words(board['target'])}.",
        leaderboard_table(board),
        {"src": "leaderboard.png", "alt": "each method's average loss difference from stratified, with intervals"},
    ]
    if board.get("caveat"):
        parts.append(f"Note: {board['caveat']}.")
    parts += [f"**Warning:** {w}." for w in board.get("repetition_warnings", [])]
    parts.append(
        "How to read it (intervals, family, decision, resolution): docs/concepts/verdicts.md in doremi's repository."
    )
    return ("Which mixture should I train on?", parts)


def sections(
    name: str,
    mixture: dict,
    evaluation: dict | None,
    method_sections: list | None = None,
    sft: dict | None = None,
    sft_mix: dict | None = None,
    downstream: dict | None = None,
    board: dict | None = None,
    words: tuple[str | None, str | None] = (None, None),
) -> list[tuple[str, list]]:
    """(title, parts) where a part is a paragraph string, a table (header, rows) or an image dict.
    The answer comes first: the leaderboard of stage=compare, else the final stage's verdicts."""
    out = []
    if board:
        out.append(leaderboard_section(board))
    if evaluation and evaluation.get("comparison"):
        lines = verdict_lines(evaluation) + [f"**Warning:** {w}." for w in evaluation.get("repetition_warnings", [])]
        out.append(("Verdict", lines))
    out.append(
        (
            "Domain weights",
            [
                intro(name, mixture, words),
                weights_table(mixture),
                {"src": "weights.png", "alt": "learned vs baseline weights"},
            ],
        )
    )
    out += method_sections or []
    if sft_mix:
        out.append(sft_mix_section(sft_mix))
    if downstream:
        out.append(downstream_section(downstream))
    if sft:
        out.append(sft_section(sft))
    if evaluation:
        budget = evaluation["budget"]
        out.append(
            (
                "Final models",
                [
                    f"Each mixture trained the same model with the same seeds ({', '.join(map(str, evaluation.get('seeds', [])))}) "
                    f"for {budget['steps']} steps of {budget['batch_size']} sequences ({budget['tokens']:,} tokens). "
                    "Held-out loss in nats/token, mean over seeds:",
                    loss_table(evaluation),
                    heldout_text(evaluation),
                    difference_table(evaluation),
                    {"src": "differences.png", "alt": "loss difference per domain with intervals"},
                    {"src": "domain_loss.png", "alt": "held-out loss per domain"},
                    {"src": "loss_over_steps.png", "alt": "average and worst-domain loss over steps"},
                ],
            )
        )
    return out


def cost_line(cost: dict, words: str | None = None) -> str:
    """What learning the mixture cost: its FLOPs and, in its method's `words`, what they were spent on."""
    return f"cost: learning the mixture took {cost.get('flops', 0.0):.3g} FLOPs {words or '(' + cost.get('what', 'as the method reports') + ')'}"


def terminal_summary(
    mixture: dict, evaluation: dict | None, mixture_path: str, report_path: str, cost_words: str | None = None
) -> str:
    """The few lines printed at the end of a pipeline run."""
    header, rows = weights_table(mixture)
    if evaluation:
        lh, lrows = loss_table(evaluation)
        header = header + [f"loss:{h}" for h in lh[1:]]
        rows = [r + lr[1:] for r, lr in zip(rows, lrows)] + [
            [lr[0].strip("*")] + [""] * (len(header) - len(lh)) + lr[1:] for lr in lrows[len(rows) :]
        ]
    lines = ["", *plain_table(header, rows), ""]
    if evaluation:
        lines += [line.replace("**", "") for line in verdict_lines(evaluation)] + [""]
    for warning in mixture.get("provenance", {}).get("diagnostics", {}).get("warnings", []):
        lines.append(f"warning: {warning}")
    if mixture.get("provenance", {}).get("cost"):
        lines.append(cost_line(mixture["provenance"]["cost"], cost_words))
    lines += [f"mixture: {mixture_path}", f"report:  {report_path}"]
    return "\n".join(lines)
