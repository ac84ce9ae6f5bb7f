"""stage=export: `python -m doremi stage=export mixture=<file> format=<name> out=<path>`."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.data.mixture import closest, load_mixture
from doremi.outputs.export import FORMATS, export_all, export_input, export_mixture
from doremi.pipeline.graph import learned_or_published, locate
from doremi.store.files import read_json
from doremi.store.runtime import say


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


def read_schedule(path: str, domains: list[str]) -> list[tuple[int, dict[str, float]]]:
    """An online method's schedule.jsonl: (first step, weights) per line, every weight checked."""
    from doremi.data.mixture import validate_weights
    from doremi.store.files import read_jsonl

    entries = read_jsonl(path) if Path(path).is_file() else None
    if not entries:
        raise DoremiError(f"export.schedule={path}: not a schedule.jsonl of an online run (final/<method>/seed-<s>/)")
    out = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            raise DoremiError(f"{path}:{i}: expected {{step, weights}}")
        out.append((entry["step"], validate_weights(entry.get("weights"), domains, f"{path}:{i}", normalize=True)))
    return out


def run_manifest(cfg: DictConfig, mixture: str) -> Path | None:
    """This run's prepare manifest, when it prepared the mixture's domains (a mixture from elsewhere, like the
    shipped Pile weights, is exported without one)."""
    manifest = locate(cfg, "manifest")
    if not manifest.exists():
        return None
    prepared = read_json(manifest, "rerun stage=prepare with overwrite=true").get("splits", {}).get("train", {})
    return manifest if set(load_mixture(mixture)) <= set(prepared) else None


def run(cfg: DictConfig) -> None:
    mixture = str(cfg.get("mixture") or learned_or_published(cfg))
    fmt = cfg.get("format")
    choices = [*FORMATS, "all"]
    if not fmt:
        raise DoremiError(f"stage=export needs format=<name>; one of {', '.join(choices)}")
    if fmt not in choices:
        raise DoremiError(
            f"format={fmt} is not an export format{closest(str(fmt), choices)}; choose one of {', '.join(choices)}"
        )
    manifest = cfg.export.get("manifest") or run_manifest(cfg, mixture)
    inp = export_input(
        mixture,
        manifest,
        export_paths(cfg.export.get("paths")),
        cfg.export.get("token_budget"),
        int(cfg.export.get("examples_budget") or 1000),
    )
    schedule_file = cfg.export.get("schedule")
    if schedule_file:
        if fmt != "nanotron":
            raise DoremiError(
                f"export.schedule: format={fmt} takes one mixture, not stages; export the schedule's average "
                "(final/<method>/schedule-average.json) with mixture=, or use format=nanotron"
            )
        inp.schedule = read_schedule(str(schedule_file), list(inp.weights))
    if fmt == "all":
        out_dir = Path(cfg.get("out") or f"{Path(mixture).with_suffix('')}.exports")
        written, skipped = export_all(inp, out_dir, Path(mixture).stem)
        for name, why in skipped.items():
            say(f"[export] {name}: not written: {why}")
        if not written:
            raise DoremiError(f"format=all wrote no format for {mixture}; see the reasons above")
        say(f"[export] wrote {len(written)} formats and README.md to {out_dir}/")
        return
    out = cfg.get("out") or f"{Path(mixture).with_suffix('')}.{fmt}{FORMATS[fmt][1]}"
    export_mixture(inp, fmt, out)
    say(f"[export] wrote {out} ({fmt})")
