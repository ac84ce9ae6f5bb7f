"""A swarm: many small independent training runs on sampled mixtures (RegMix, Data Mixing Laws).

Run i's mixture is a draw from a Dirichlet around a prior mixture (natural token shares by
default), alpha = concentration · k · prior, with the concentrations taken in turn from
`concentrations` (RegMix's recipe: several spreads, from near one-hot to near the prior). The
draw depends only on (seed, i), so a swarm grown from 24 to 48 runs keeps its first 24 and
trains only the new ones. A run is identified by a fingerprint of everything that decides its
result; `runs/<fingerprint>/result.json` holds its weights and per-domain held-out losses.

Pure NumPy and files: no torch here (the stage trains; this module samples and reads).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from doremi.data.mixture import FLOOR  # a Dirichlet draw may underflow to 0
from doremi.store.files import parse_json, read_text


def sample_mixture(prior: np.ndarray, index: int, seed: int, concentrations: list[float]) -> np.ndarray:
    """Run `index`'s mixture: a function of (seed, index) alone."""
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior / prior.sum()
    concentration = float(concentrations[index % len(concentrations)])
    rng = np.random.default_rng([int(seed), int(index)])
    w = rng.dirichlet(np.maximum(concentration * len(prior) * prior, 1e-3))
    w = np.maximum(w, FLOOR)
    return w / w.sum()


def run_id(spec: dict) -> str:
    """The fingerprint of one run: everything that decides its result."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_runs(folder: Path, wanted: list[str]) -> tuple[list[dict], list[str]]:
    """(results of the finished runs among `wanted` ids, ids still missing)."""
    found, missing = [], []
    for rid in wanted:
        result = Path(folder) / rid / "result.json"
        if result.is_file():
            found.append(parse_json(read_text(result), str(result)))
        else:
            missing.append(rid)
    return found, missing


def table(results: list[dict], domains: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(weights (R, k), per-domain held-out losses (R, k)) of finished runs, in `domains` order."""
    weights = np.array([[r["weights"][d] for d in domains] for r in results], dtype=np.float64)
    losses = np.array([[r["losses"][d] for d in domains] for r in results], dtype=np.float64)
    return weights, losses


def target_values(losses: np.ndarray, kind: str, indices: list[int] | None) -> np.ndarray:
    """The per-run value a target-optimizing method minimizes: the average, the worst, or chosen domains' mean."""
    if kind == "worst":
        return losses.max(axis=1)
    if kind == "target":
        return losses[:, indices].mean(axis=1)
    return losses.mean(axis=1)
