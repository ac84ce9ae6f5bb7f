"""The report's tables, built once from the artifacts (a table is (header, rows) of strings), for every
rendering: Markdown, HTML, the terminal."""

from __future__ import annotations


def weights_table(mixture: dict) -> tuple[list[str], list[list[str]]]:
    domains = mixture["domains"]
    baselines = mixture.get("baseline_weights", {})
    header = ["domain", *baselines, "learned", "learned / uniform"]
    rows = []
    for d in domains:
        learned = mixture["weights"][d]
        rows.append(
            [d, *(f"{b[d]:.4f}" for b in baselines.values()), f"{learned:.4f}", f"{learned * len(domains):.2f}x"]
        )
    return header, rows


def loss_table(evaluation: dict) -> tuple[list[str], list[list[str]]]:
    results = evaluation["mixtures"]
    header = ["domain", *results]
    rows = [[d, *(f"{r['losses'][d]:.4f}" for r in results.values())] for d in evaluation["domains"]]
    rows.append(["**average**", *(f"{r['average']:.4f}" for r in results.values())])
    rows.append(["**worst**", *(f"{r['worst']['loss']:.4f} ({r['worst']['domain']})" for r in results.values())])
    return header, rows


def signed(value: float) -> str:
    return f"{value:+.4f}"


def span(interval) -> str:
    return f"[{interval[0]:+.4f}, {interval[1]:+.4f}]"


def factor(value) -> str:
    return "not reached" if not value else f"{value:.2f}x"


def difference_table(evaluation: dict) -> tuple[list[str], list[list[str]]]:
    """Per domain, the candidate's loss difference from each baseline with its interval."""
    baselines = evaluation["comparison"]["baselines"]
    header = ["domain", *(f"vs {b}" for b in baselines)]
    rows = []
    for d in evaluation["domains"]:
        cells = [
            f"{signed(c['domains'][d]['difference'])} {span(c['domains'][d]['interval'])}" for c in baselines.values()
        ]
        rows.append([d, *cells])
    for key in ("average", "worst"):
        rows.append(
            [
                f"**{key}**",
                *(f"{signed(c[key]['difference'])} {span(c[key]['interval'])}" for c in baselines.values()),
            ]
        )
    return header, rows


DECISION_HEADER = ["judged", "estimate", "decision bound", "decision", "two-sided interval"]


def decision_cells(row: dict, control: str, key: str) -> list[str]:
    """What decided a row against the control: which stage judged it, the estimate, the one-sided bound the
    decision used ("decided better" exactly when it is below 0), the decision, and the two-sided interval whose
    upper end that bound is (doremi.stats.decide.decision_level)."""
    judged = row["vs"].get(control, {}).get(key)
    if not judged:
        return [row.get("stage", ""), "(control)", "", "", ""]
    made = row.get("decision", {})
    word = (
        "decided better"
        if made.get("better")
        else "screened out"
        if row.get("stage") == "screened out"
        else "not decided"
    )
    if row.get("same_models_as") == control:
        word = f"the same models as {control}"
    bound = f"<= {signed(made['bound'])}" if "bound" in made else ""
    return [
        row.get("stage", ""),
        signed(judged["difference"]),
        bound,
        word,
        f"{span(judged['interval'])} {judged['verdict']}",
    ]


def leaderboard_table(board: dict) -> tuple[list[str], list[list[str]]]:
    """One row per method, best first: its loss, the decision against stratified (with the bound it used), the
    two-sided intervals for description, its cost."""
    kind = board["target"]["kind"]
    control = board.get("control", "stratified")
    yours = "external" in board["target"]  # target.paths: each row's loss on it beside the average
    label = "your target" if board["target"].get("decided_on") else kind
    header = [
        "method",
        "average loss",
        *(["target loss"] if yours else []),
        *[f"{h} ({label} vs {control})" if h == "estimate" else h for h in DECISION_HEADER],
    ]
    described = "your target" if board["target"].get("decided_on") else "average"
    header += [f"vs natural ({described}, description)", "domains better/worse", "cost (FLOPs)", "most epochs"]
    rows = []
    for row in board["rows"]:
        cells = [row["method"], f"{row['average']:.4f}", *([f"{row['target_loss']:.4f}"] if yours else [])]
        cells += decision_cells(row, control, kind)
        other = row["vs"].get("natural", {}).get("average")
        cells.append(
            f"{signed(other['difference'])} {span(other['interval'])} {other['verdict']}" if other else "(itself)"
        )
        versus = row["vs"].get(control)
        cells.append(f"{versus['domains_better']}/{versus['domains_worse']}" if versus else "")
        cells.append(f"{row['cost']['flops']:.3g} ({row['cost']['share_of_final_run']:.1%})")
        cells.append(f"{max(row['epochs'].values()):.2f}")
        rows.append(cells)
    return header, rows


def plain_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A table as aligned lines of text, for the terminal."""
    rows = [[str(c).replace("**", "") for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return [fmt(header), *map(fmt, rows)]
