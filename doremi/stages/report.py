"""stage=report: plots and a Markdown / HTML report under reports/<name>/.

The answer comes first: stage=compare's leaderboard and recommendation when the run has one,
else the final stage's verdicts; then the mixture's weights and its method's own section."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.methods import known, resolve, words
from doremi.outputs.report import plots
from doremi.outputs.report.document import sections, terminal_summary
from doremi.outputs.report.render import to_html, to_markdown
from doremi.pipeline.common import say
from doremi.pipeline.graph import locate, method_of, producer
from doremi.store.files import read_json, read_jsonl, staged_dir


def finished(cfg: DictConfig, artifact: str) -> dict | None:
    """An artifact of a finished stage (checked against what its stage recorded), or None."""
    from doremi.pipeline.graph import require

    path = locate(cfg, artifact)
    done = (producer(cfg, artifact) / "done.json").is_file()
    if not (done and path.is_file()):
        return None
    return read_json(require(cfg, artifact, "report"), "")


def learned(cfg: DictConfig, board: dict | None) -> tuple[DictConfig, dict]:
    """The mixture the report describes: after a compare that published its recommendation (mixtures/<name>.json),
    the recommended method's, which is what other trainers import; else the run's learned mixture (with only a
    leaderboard, the recommended method's)."""
    from doremi.pipeline.graph import require
    from doremi.stages.compare import with_method

    if board and (board.get("published") or finished(cfg, "learned_mixture") is None):
        cfg = with_method(cfg, board["recommendation"]["method"])
    return cfg, read_json(require(cfg, "learned_mixture", "report"), "")


def method_sections(cfg: DictConfig, mixture: dict, folder: Path) -> list:
    name = mixture.get("provenance", {}).get("method", method_of(cfg))
    if name not in known():
        return []
    from doremi.methods import ReportContext
    from doremi.stages.learn import variant_config

    method = resolve(name)
    if method.report is None:
        return []
    learned_in = variant_config(cfg, method)
    return method.report(ReportContext(learned_in, mixture, folder, lambda artifact: locate(learned_in, artifact)))


def run(cfg: DictConfig) -> str:
    board = finished(cfg, "leaderboard")
    cfg, mixture = learned(cfg, board)
    evaluation = finished(cfg, "final_eval")
    if evaluation is None and board is None:
        say(f"[report] {locate(cfg, 'final_eval')} not found: reporting weights only (run stage=final for losses)")
    domains = mixture["domains"]
    target = Path(cfg.reports_dir) / str(cfg.name)
    with staged_dir(target) as tmp:
        series = {**mixture.get("baseline_weights", {}), "learned": mixture["weights"]}
        spread = mixture["provenance"].get("diagnostics", {}).get("seed_spread")
        errors = {"learned": spread} if spread and len(mixture["provenance"].get("seeds", [])) > 1 else None
        plots.weights_bar(domains, series, tmp / "weights.png", errors)
        own = method_sections(cfg, mixture, tmp)
        said = words(mixture)  # the method's own words: how it learned, what its cost went on
        if board:
            plots.leaderboard(board, tmp / "leaderboard.png")
        if evaluation and evaluation.get("comparison"):
            candidate = evaluation.get("candidate", "learned")
            plots.differences(domains, evaluation["comparison"], candidate, tmp / "differences.png")
        if evaluation:
            plots.domain_loss_bars(domains, evaluation["mixtures"], tmp / "domain_loss.png")
            plots.loss_over_steps(evaluation["mixtures"], tmp / "loss_over_steps.png")
        sft = finished(cfg, "sft_eval")
        sft_mix = sft_manifest(cfg)
        if sft_mix and sft_mix.get("learned"):
            folder = locate(cfg, "sft_set")
            learned_sft = read_json(folder / sft_mix["learned"], "")
            steps = read_jsonl(folder / "learned" / "trajectory.jsonl")
            plots.weights_over_steps(learned_sft["domains"], steps, tmp / "sft_weights_over_steps.png", "Source")
        downstream = read_json(locate(cfg, "downstream"), "") if locate(cfg, "downstream").is_file() else None
        parts = sections(str(cfg.name), mixture, evaluation, own, sft, sft_mix, downstream, board, said)
        sft_board = finished(cfg, "sft_leaderboard")
        if sft_board:  # the SFT set recommended, first
            from doremi.outputs.report.sft import sft_compare_section

            plots.leaderboard(sft_board, tmp / "sft_leaderboard.png")
            parts.insert(0, sft_compare_section(sft_board))
        title = f"Mixture report: {cfg.name}"
        (tmp / "report.md").write_text(to_markdown(title, parts))
        (tmp / "report.html").write_text(to_html(title, parts))
    mixture_path = Path(cfg.mixtures_dir) / f"{cfg.name}.json"
    say(f"[report] wrote {target / 'report.md'} and {target / 'report.html'}")
    summary = terminal_summary(mixture, evaluation, str(mixture_path), str(target / "report.md"), said[1])
    if board:
        from doremi.stages.compare import summary_text

        summary = summary_text(board) + "\n" + summary
    return summary


def sft_manifest(cfg: DictConfig) -> dict | None:
    manifest = locate(cfg, "sft_set") / "manifest.json"
    return read_json(manifest, "") if manifest.is_file() else None
