"""Exports of a mixture for other trainers: `export_mixture(...)` or `python -m doremi stage=export`."""

from __future__ import annotations

from pathlib import Path

from doremi.errors import DoremiError
from doremi.export.formats import FORMATS, ExportInput
from doremi.files import read_json, write_text_atomic
from doremi.mixture import closest, load_mixture

__all__ = ["FORMATS", "ExportInput", "export_input", "export_mixture"]


def export_input(
    mixture: str | Path,
    manifest: str | Path | None = None,
    paths: dict[str, str] | None = None,
    token_budget: int | None = None,
    examples_budget: int = 1000,
) -> ExportInput:
    """Read and validate a mixture (and, where given, the prepare manifest's per-domain counts)."""
    weights = load_mixture(mixture)
    mean_tokens = available = None
    if manifest is not None and Path(manifest).exists():
        info = read_json(manifest, "")
        train = info["splits"]["train"]
        mean_tokens = {d: v["tokens"] / max(v["documents"], 1) for d, v in train.items()}
        available = {d: v["tokens"] for d, v in train.items()}
    unknown = [d for d in (paths or {}) if d not in weights]
    if unknown:
        raise DoremiError(
            f"export.paths names {unknown[0]!r}, not a domain of {mixture}{closest(unknown[0], list(weights))}"
        )
    return ExportInput(weights, dict(paths or {}), mean_tokens, available, token_budget, examples_budget)


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
