"""stage=export: `python -m doremi stage=export mixture=<file> format=<name> out=<path>`."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.errors import DoremiError
from doremi.export import FORMATS, export_input, export_mixture
from doremi.mixture import closest
from doremi.stages.common import say, stage_dir


def run(cfg: DictConfig) -> None:
    mixture = cfg.get("mixture") or str(Path(cfg.mixtures_dir) / f"{cfg.name}.json")
    fmt = cfg.get("format")
    if not fmt:
        raise DoremiError(f"stage=export needs format=<name>; one of {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        raise DoremiError(
            f"format={fmt} is not an export format{closest(str(fmt), list(FORMATS))}; choose one of {', '.join(FORMATS)}"
        )
    manifest = cfg.export.get("manifest") or stage_dir(cfg, "prepare") / "manifest.json"
    inp = export_input(
        mixture,
        manifest,
        dict(cfg.export.get("paths") or {}),
        cfg.export.get("token_budget"),
        int(cfg.export.get("examples_budget") or 1000),
    )
    out = cfg.get("out") or f"{Path(mixture).with_suffix('')}.{fmt}{FORMATS[fmt][1]}"
    export_mixture(inp, fmt, out)
    say(f"[export] wrote {out} ({fmt})")
