"""Exports of a mixture for other trainers: `export_mixture(...)` or `python -m doremi stage=export`."""

from __future__ import annotations

from pathlib import Path

from doremi.config.errors import DoremiError
from doremi.data.mixture import closest, load_mixture
from doremi.outputs.export.formats import FORMATS, ExportInput
from doremi.store.files import read_json, write_text_atomic

__all__ = ["FORMATS", "ExportInput", "export_all", "export_input", "export_mixture"]

# How each file reaches its trainer (the README that format=all writes beside the files).
HOW_TO = {
    "hf-datasets": "Python: load one dataset per domain in the order of PATHS, then "
    "`interleave_datasets(datasets, probabilities=PROBABILITIES)` (document shares).",
    "megatron": "Megatron-LM: `--data-args-path <file>` (weight and prefix pairs).",
    "gpt-neox": "GPT-NeoX: pass the file with your other configs, `deepy.py train.py model.yml <file>`; "
    "point valid/test at held-out prefixes.",
    "mosaic": "llm-foundry: paste `streams:` under `train_loader.dataset`; set each `remote`/`local`.",
    "litdata": "litdata/litgpt: run or import the snippet; PATHS are optimized dataset folders.",
    "olmo-core": "OLMo-core: the `sources:` list of a SourceMixtureDatasetConfig's source_list "
    "(max_repetition_ratio is set when a token budget is known).",
    "nanotron": "nanotron: the `data_stages:` entry of the run config (Nanoset folders).",
    "doremi-original": "original DoReMi code: `--domain_config_path <file>`.",
    "llama-factory": "LLaMA-Factory: merge into the training YAML (`dataset`, `mix_strategy`, "
    "`interleave_probs`); the names are keys of dataset_info.json.",
    "trl": "TRL: the `datasets:` mixture of `trl sft --config <file>` (fraction = share of examples).",
    "axolotl": "Axolotl: the `datasets:` list of the training YAML (exact example counts).",
}


def export_input(
    mixture: str | Path,
    manifest: str | Path | None = None,
    paths: dict[str, str] | None = None,
    token_budget: int | None = None,
    examples_budget: int = 1000,
) -> ExportInput:
    """Read and validate a mixture (and, where given, the prepare manifest's per-domain counts)."""
    weights = load_mixture(mixture)
    mean_tokens = available = max_epochs = None
    if manifest is not None and Path(manifest).exists():
        info = read_json(manifest, "")
        train = info["splits"]["train"]
        mean_tokens = {d: v["tokens"] / max(v["documents"], 1) for d, v in train.items()}
        available = {d: v["tokens"] for d, v in train.items()}
    planned = planned_run(mixture)
    if planned:  # a stage=plan mixture: its budget, its data's sizes and its repetition limit
        token_budget = token_budget or int(planned["token_budget"])
        available = {d: int(n) for d, n in planned["available_tokens"].items()}
        max_epochs = float(planned["constraints"]["max_epochs"])
    unknown = [d for d in (paths or {}) if d not in weights]
    if unknown:
        raise DoremiError(
            f"export.paths names {unknown[0]!r}, not a domain of {mixture}{closest(unknown[0], list(weights))}"
        )
    return ExportInput(
        weights, dict(paths or {}), mean_tokens, available, token_budget, examples_budget, max_epochs=max_epochs
    )


def planned_run(mixture: str | Path) -> dict | None:
    """The provenance of a mixture written by stage=plan (None for any other mixture)."""
    provenance = read_json(mixture, "").get("provenance") or {}
    needed = ("token_budget", "available_tokens", "constraints")
    if provenance.get("method") != "plan" or not all(k in provenance for k in needed):
        return None
    return provenance


def export_mixture(inp: ExportInput, fmt: str, out: str | Path | None = None) -> str:
    """The mixture in format `fmt`; written to `out` when given (atomically)."""
    if fmt not in FORMATS:
        raise DoremiError(
            f"format={fmt} is not an export format{closest(fmt, list(FORMATS))}; choose one of {', '.join(FORMATS)}"
        )
    text = FORMATS[fmt][0](inp)
    if out is not None:
        write_text_atomic(out, text)
    return text


def export_all(inp: ExportInput, out_dir: str | Path, stem: str) -> tuple[dict[str, Path], dict[str, str]]:
    """Every format into `out_dir` (`<stem>.<format><ext>`) beside a README of how to pass each file to its
    trainer. Returns ({format: file written}, {format: why it was not written})."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for fmt, (_, ext) in FORMATS.items():
        try:
            written[fmt] = out_dir / f"{stem}.{fmt}{ext}"
            export_mixture(inp, fmt, written[fmt])
        except DoremiError as err:
            del written[fmt]
            skipped[fmt] = str(err)
    lines = [f"# Exports of {stem}", "", "| format | file | how to use it |", "|---|---|---|"]
    lines += [f"| `{fmt}` | `{path.name}` | {HOW_TO[fmt]} |" for fmt, path in written.items()]
    if skipped:
        lines += ["", "Not written:", ""] + [f"- `{fmt}`: {why}" for fmt, why in skipped.items()]
    write_text_atomic(out_dir / "README.md", "\n".join(lines) + "\n")
    return written, skipped
