"""stage=export: `python -m doremi stage=export mixture=<file> format=<name> out=<path>`."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.errors import DoremiError
from doremi.export import FORMATS, export_input, export_mixture
from doremi.files import read_json
from doremi.mixture import closest
from doremi.stages.common import say, stage_dir


def export_paths(value) -> dict[str, str]:
    """export.paths: a {domain: path} map, or a .json file holding one (for names Hydra's map syntax cannot
    take, like the Pile's 'PubMed Central')."""
    if value is None:
        return {}
    if isinstance(value, str):
        paths = read_json(value, "export.paths names a .json file of {domain: path}; check the path")
        if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
            raise DoremiError(f"export.paths={value}: expected a JSON object of {{domain: path}}")
        return paths
    return {str(k): str(v) for k, v in dict(value).items()}


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
        export_paths(cfg.export.get("paths")),
        cfg.export.get("token_budget"),
        int(cfg.export.get("examples_budget") or 1000),
    )
    out = cfg.get("out") or f"{Path(mixture).with_suffix('')}.{fmt}{FORMATS[fmt][1]}"
    export_mixture(inp, fmt, out)
    say(f"[export] wrote {out} ({fmt})")
