"""The compare's noise floor in numbers and in words: what a verdict here can and cannot see, and what limits it
(seeds or held-out documents), with the design's, the scale check's and Stein's lines."""

from __future__ import annotations


def noise_floor(rows: list[dict], summary: dict, key: str, control: str = "stratified") -> dict:
    """What limits this run's resolution: each mixture's seed standard deviation of its average loss, and per
    method against stratified the paired seed standard deviation of the target, the term that dominates its
    interval (seeds or held-out documents) and the smallest difference it could detect (the half-width)."""
    pairs = {}
    for row in rows:
        judged = row["vs"].get(control, {}).get(key)
        if judged and row.get("same_models_as") != control:
            noise = judged["noise"]
            pairs[row["method"]] = {
                "paired_sd": noise["seed_sd"],
                "moderated_sd": noise["seed_sd_used"],  # the name of 0.4.0, kept: the seed SD the interval used
                "df": noise["df"],
                "dominant": noise["dominant"],
                "se_documents": noise["se_documents"],
                "df_documents": noise["df_documents"],
                "detects": judged["half_width"],
            }
    halves = sorted(p["detects"] for p in pairs.values())
    return {
        "seed_sd": {name: s["seed_sd"] for name, s in summary.items()},
        "pairs": pairs,
        "median_detects": halves[len(halves) // 2] if halves else None,
    }


def noise_lines(board: dict) -> list[str]:
    """The run's noise floor in words: what a verdict here can and cannot see, and what limits it."""
    noise, out = board.get("noise"), []
    if not noise or not noise["pairs"]:
        return out
    pairs = noise["pairs"]
    by_seeds = sum(p["dominant"] == "seeds" for p in pairs.values())
    control = board.get("control", "stratified")
    sd = noise["seed_sd"].get(control, 0.0)
    out.append(
        f"Noise: {control}'s average loss varies by {sd:.4f} nats/token between seeds; paired against it, methods "
        f"vary by {min(p['paired_sd'] for p in pairs.values()):.4f} to {max(p['paired_sd'] for p in pairs.values()):.4f}; "
        f"seeds dominate {by_seeds} of {len(pairs)} intervals (else held-out documents); the median interval "
        f"detects ±{noise['median_detects']:.4f} (two-sided at {1 - 0.1 / max(len(pairs), 1):.1%}: its upper end is the one-sided bound at 5% / {len(pairs)} that decides)."
    )
    check = board.get("scale_check")
    if check:
        judged = check.get("at_larger", {})
        out.append(
            f"Scale check ({check['preset']}, seeds {check['seeds']}): {check['decision_agreement']:.0%} of the pairs of "
            f"{', '.join(check['methods'])} decided alike, rank correlation {check['spearman']:.3f} (point estimates); "
            f"best at the larger size: {check['best_large']}; against stratified there: "
            + ", ".join(
                f"{n} {v['difference']:+.4f} [{v['interval'][0]:+.4f}, {v['interval'][1]:+.4f}] {v['verdict']}"
                for n, v in judged.items()
            )
            + (f"; warning: {check['warning']}" if check.get("warning") else "")
        )
    design = board.get("design")
    if design and design.get("kind") == "screen":
        out.append(f"Design: {design['describe']}.")
    fits = (design or {}).get("fits_scored_on")
    if fits:
        out.append(
            f"Fits ({', '.join(fits['methods'])}) were scored on the {fits['documents']} of the held-out documents; "
            f"the decision read the {fits['decided_on']}."
        )
    stein = board.get("resolution")
    if stein:
        reached = [n for n, p in pairs.items() if p["detects"] <= stein["resolution"] + 1e-12]
        out.append(
            f"compare.resolution={stein['resolution']}: pilot of {stein['pilot_seeds']} seeds, then "
            + ", ".join(f"{n} {k}" for n, k in stein["seeds"].items())
            + f" seeds ({stein['extra_runs']} more runs); reached by "
            + f"{len(reached)} of {len(pairs)} comparisons"
            + (
                f"; not reachable within compare.max_seeds: {', '.join(stein['unreachable'])}"
                if stein["unreachable"]
                else ""
            )
            + (
                f"; limited by held-out documents (pilot seeds kept): {', '.join(stein['limited_by_documents'])}"
                if stein.get("limited_by_documents")
                else ""
            )
        )
    return out
