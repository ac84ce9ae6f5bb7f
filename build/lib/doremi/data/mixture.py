"""The mixture file (`doremi-mixture/v1`): the one place that reads, validates and writes it.

    {"format": "doremi-mixture/v1", "domains": [...], "weights": {domain: w},
     "train_domain_weights": {domain: w}, "unit": "tokens", "baseline_weights": {...},
     "provenance": {...}}

Weights are shares of tokens: finite, >= 0 (> 0 for learned mixtures), summing to 1.
`train_domain_weights` repeats `weights` so the original DoReMi code can read the file;
a file with only `train_domain_weights` (the original code's format) is read too.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from doremi.config.errors import DoremiError
from doremi.store.files import parse_json, read_text, write_json_atomic

FLOOR = 1e-6  # the smallest weight a mixture the tool makes keeps: the file format keeps every domain above 0

FORMAT = "doremi-mixture/v1"
SUM_TOLERANCE = 1e-6


def stratified(tokens: Sequence[float]) -> np.ndarray:
    """Every domain the same share (a mixture file's `baselines.uniform`)."""
    return np.full(len(tokens), 1.0 / len(tokens))


def natural(tokens: Sequence[float]) -> np.ndarray:
    """Each domain's share of the training tokens (a mixture file's `baselines.natural`)."""
    t = np.asarray(tokens, dtype=np.float64)
    return t / t.sum()


def closest(name: str, options: Sequence[str]) -> str:
    """' (closest: a, b)' or '' — for error messages about unknown names."""
    near = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" (closest: {', '.join(near)})" if near else ""


def validate_weights(
    weights: Mapping[str, float],
    domains: Sequence[str] | None,
    where: str,
    normalize: bool = False,
    allow_zero: bool = True,
) -> dict[str, float]:
    """Check a {domain: weight} mapping; return it in `domains` order (sorted names if None)."""
    if not isinstance(weights, Mapping) or not weights:
        raise DoremiError(f"{where}: weights must be a non-empty {{domain: weight}} object")
    if domains is not None:
        unknown = [d for d in weights if d not in domains]
        if unknown:
            raise DoremiError(
                f"{where}: domain {unknown[0]!r} is not in the data{closest(unknown[0], domains)}; "
                f"the data has {len(domains)} domains: {', '.join(domains)}"
            )
        missing = [d for d in domains if d not in weights]
        if missing:
            raise DoremiError(
                f"{where}: no weight for domain {missing[0]!r}; give every domain a weight (0 to leave it out)"
            )
    names = list(domains) if domains is not None else sorted(weights)
    out: dict[str, float] = {}
    for name in names:
        value = weights[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DoremiError(f"{where}: weight of {name!r} is {value!r}; weights must be finite numbers")
        if value < 0 or (value == 0 and not allow_zero):
            raise DoremiError(
                f"{where}: weight of {name!r} is {value}; weights must be {'>= 0' if allow_zero else '> 0'}"
            )
        out[name] = float(value)
    total = sum(out.values())
    if total <= 0:
        raise DoremiError(f"{where}: all weights are 0; at least one domain needs a positive weight")
    if abs(total - 1.0) > SUM_TOLERANCE:
        if not normalize:
            raise DoremiError(
                f"{where}: weights sum to {total:.9g}, not 1; fix the file or pass normalize=true to rescale them"
            )
        out = {name: value / total for name, value in out.items()}
    return out


def read_mixture(path: str | Path) -> dict:
    """Read a mixture file (v1 or the original DoReMi JSON) as a v1 dict, unvalidated weights."""
    path = Path(path)
    if not path.is_file():
        raise DoremiError(f"mixture file {path} not found; give a path to a mixture .json (see mixtures/)")
    raw = parse_json(read_text(path), str(path))
    if not isinstance(raw, dict):
        raise DoremiError(f"{path}: a mixture file is a JSON object with 'weights'")
    if "weights" in raw:
        return raw
    if "train_domain_weights" in raw:  # the original DoReMi code's format
        weights = raw["train_domain_weights"]
        return {"format": "doremi-original", "domains": sorted(weights), "weights": weights, "unit": "tokens"}
    raise DoremiError(f"{path}: no 'weights' (or 'train_domain_weights') field; is this a mixture file?")


def load_mixture(path: str | Path, domains: Sequence[str] | None = None, normalize: bool = False) -> dict[str, float]:
    """{domain: weight} from a mixture file, validated against `domains` when given."""
    raw = read_mixture(path)
    weights = validate_weights(raw["weights"], domains, f"{path}: field 'weights'", normalize=normalize)
    if domains is None and isinstance(raw.get("domains"), list) and sorted(raw["domains"]) == sorted(weights):
        weights = {d: weights[d] for d in raw["domains"]}  # the file's own domain order
    return weights


def resolve_mixture(
    spec: str, domains: Sequence[str], train_tokens: Sequence[int], key: str, normalize: bool = False
) -> list[float]:
    """Weights in `domains` order for `stratified` (every domain alike; `uniform` is its old name), `natural`
    (token shares) or a mixture file."""
    if spec in ("stratified", "uniform"):
        return [1.0 / len(domains)] * len(domains)
    if spec == "natural":
        total = float(sum(train_tokens))
        return [t / total for t in train_tokens]
    if not Path(spec).suffix == ".json" and not Path(spec).exists():
        raise DoremiError(f"{key}={spec}: expected stratified (or uniform), natural or a mixture .json file")
    weights = load_mixture(spec, domains, normalize)
    return [weights[d] for d in domains]


def make_mixture(
    domains: Sequence[str],
    weights: Sequence[float],
    baseline_weights: Mapping[str, Sequence[float]],
    provenance: dict,
) -> dict:
    """A v1 mixture dict; learned weights must be > 0 and sum to 1 within 1e-9."""
    named = dict(zip(domains, (float(w) for w in weights)))
    validate_weights(named, list(domains), "learned mixture", allow_zero=False)
    if abs(sum(named.values()) - 1.0) > 1e-9:
        raise DoremiError(f"learned mixture: weights sum to {sum(named.values())!r}; expected 1 within 1e-9")
    return {
        "format": FORMAT,
        "domains": list(domains),
        "weights": named,
        "train_domain_weights": dict(named),
        "unit": "tokens",
        "baseline_weights": {name: dict(zip(domains, map(float, ws))) for name, ws in baseline_weights.items()},
        "provenance": provenance,
    }


def write_mixture(path: str | Path, mixture: dict) -> Path:
    return write_json_atomic(path, mixture)
