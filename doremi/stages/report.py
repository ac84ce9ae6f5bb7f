"""stage=report: plots and a Markdown / HTML report under reports/<name>/."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.files import read_json, read_jsonl, staged_dir
from doremi.report import plots
from doremi.report.document import sections, terminal_summary, to_html, to_markdown
from doremi.stages.common import say, stage_dir


def run(cfg: DictConfig) -> str:
    proxy_dir = stage_dir(cfg, "proxy")
    mixture = read_json(proxy_dir / "mixture.json", "run stage=proxy first (same run_dir=)")
    trajectory = read_jsonl(trajectory_file(proxy_dir, mixture))
    eval_file = stage_dir(cfg, "final") / "eval.json"
    evaluation = read_json(eval_file, "") if eval_file.exists() else None
    if evaluation is None:
        say(f"[report] {eval_file} not found: reporting weights only (run stage=final for losses)")
    domains = mixture["domains"]
    target = Path(cfg.reports_dir) / str(cfg.name)
    with staged_dir(target) as tmp:
        series = {**mixture.get("baseline_weights", {}), "learned": mixture["weights"]}
        spread = mixture["provenance"].get("diagnostics", {}).get("seed_spread")
        errors = {"learned": spread} if spread and len(mixture["provenance"].get("seeds", [])) > 1 else None
        plots.weights_bar(domains, series, tmp / "weights.png", errors)
        plots.weights_over_steps(domains, trajectory, tmp / "weights_over_steps.png")
        rounds_file = proxy_dir / "rounds.json"
        rounds = read_json(rounds_file, "") if rounds_file.exists() else None
        if rounds:
            plots.weights_per_round(domains, rounds, tmp / "rounds.png")
        if evaluation and evaluation.get("comparison"):
            candidate = evaluation.get("candidate", "doremi")
            plots.differences(domains, evaluation["comparison"], candidate, tmp / "differences.png")
        if evaluation:
            plots.domain_loss_bars(domains, evaluation["mixtures"], tmp / "domain_loss.png")
            plots.loss_over_steps(evaluation["mixtures"], tmp / "loss_over_steps.png")
        sft_file = stage_dir(cfg, "sft") / "eval.json"
        sft = read_json(sft_file, "") if sft_file.exists() else None
        sft_mix_dir = stage_dir(cfg, "sft_mix")
        sft_mix = read_json(sft_mix_dir / "manifest.json", "") if (sft_mix_dir / "manifest.json").exists() else None
        if sft_mix and sft_mix.get("learned"):
            learned = read_json(sft_mix_dir / sft_mix["learned"], "")
            steps = read_jsonl(sft_mix_dir / "learned" / "trajectory.jsonl")
            plots.weights_over_steps(learned["domains"], steps, tmp / "sft_weights_over_steps.png", "Source")
        downstream_file = stage_dir(cfg, "final") / "downstream.json"
        downstream = read_json(downstream_file, "") if downstream_file.exists() else None
        parts = sections(str(cfg.name), mixture, evaluation, rounds, sft, sft_mix, downstream)
        title = f"DoReMi mixture report: {cfg.name}"
        (tmp / "report.md").write_text(to_markdown(title, parts))
        (tmp / "report.html").write_text(to_html(title, parts))
    mixture_path = Path(cfg.mixtures_dir) / f"{cfg.name}.json"
    say(f"[report] wrote {target / 'report.md'} and {target / 'report.html'}")
    return terminal_summary(mixture, evaluation, str(mixture_path), str(target / "report.md"))


def trajectory_file(proxy_dir: Path, mixture: dict) -> Path:
    """proxy/trajectory.jsonl, or with proxy.seeds the first seed's (with rounds: the last round's)."""
    seeds = mixture["provenance"].get("seeds", [])
    if len(seeds) < 2:
        return proxy_dir / "trajectory.jsonl"
    rounds = sorted(proxy_dir.glob("round-*"), key=lambda p: int(p.name.split("-")[1]))
    return (rounds[-1] if rounds else proxy_dir) / f"seed-{seeds[0]}" / "trajectory.jsonl"
