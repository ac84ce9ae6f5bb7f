"""A mixture written in the form each consumer reads (see REFERENCES.md for the formats).

Every writer takes an `ExportInput` and returns the file's text. Weights are written as
decimals that sum to exactly 1 (largest-remainder rounding), domains in the mixture's
order, zero-weight domains left out where the consumer refuses or loops on them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from doremi.config.errors import DoremiError
from doremi.data.alloc import whole_shares

DIGITS = 6


@dataclass
class ExportInput:
    weights: dict[str, float]
    """{domain: share of tokens}, validated, in a stable order."""
    paths: dict[str, str] = field(default_factory=dict)
    """{domain: the consumer's path / prefix / dataset name}; defaults to the domain name."""
    mean_tokens_per_document: dict[str, float] | None = None
    """From the prepare manifest: turns token shares into document shares."""
    available_tokens: dict[str, int] | None = None
    """From the prepare manifest: for repetition ratios."""
    token_budget: int | None = None
    """Planned training tokens (OLMo-core repetition ratios)."""
    examples_budget: int = 1000
    """Total examples for consumers that take exact counts (Axolotl)."""
    unit: str = "tokens"
    """What `weights` are shares of: "tokens" (a learned mixture) or "examples" (an SFT set's counts)."""
    schedule: list[tuple[int, dict[str, float]]] | None = None
    """An online method's schedule (first step, weights): trainers that take data stages get one per entry."""
    dataset_dir: str | None = None
    """LLaMA-Factory: the folder holding dataset_info.json (then `paths` are its dataset names)."""
    max_epochs: float | None = None
    """A planned mixture's repetition limit per domain (OLMo-core's max_repetition_ratio)."""

    def path(self, domain: str) -> str:
        return str(self.paths.get(domain, domain))


def exact_decimals(weights: dict[str, float], digits: int = DIGITS) -> dict[str, str]:
    """Decimal strings with `digits` places, summing to exactly 1 (largest remainder)."""
    scale = 10**digits
    return {d: f"{u / scale:.{digits}f}" for d, u in whole_shares(weights, scale).items()}


def exact_counts(weights: dict[str, float], budget: int) -> dict[str, int]:
    """Integer counts summing to `budget` in proportion to weights (largest remainder)."""
    return whole_shares(weights, budget)


def positive(weights: dict[str, float]) -> dict[str, float]:
    return {d: w for d, w in weights.items() if w > 0}


def document_shares(inp: ExportInput) -> dict[str, float]:
    """p_i proportional to w_i / mean tokens per document of domain i (token shares -> document shares)."""
    if not inp.mean_tokens_per_document:
        raise DoremiError(
            "this format samples documents, so it needs each domain's mean tokens per document: "
            "give run_dir= of a prepared run (or export.manifest=<prepare/manifest.json>)"
        )
    missing = [d for d in inp.weights if d not in inp.mean_tokens_per_document]
    if missing:
        raise DoremiError(f"the prepare manifest has no domain {missing[0]!r}; export with the run that prepared it")
    raw = {d: w / inp.mean_tokens_per_document[d] for d, w in positive(inp.weights).items()}
    total = sum(raw.values())
    return {d: v / total for d, v in raw.items()}


def example_shares(inp: ExportInput) -> dict[str, float]:
    """Shares of examples for consumers that sample examples (LLaMA-Factory, TRL, Axolotl): as given for an
    SFT set's counts, else token shares converted with each domain's mean tokens per document."""
    return positive(inp.weights) if inp.unit == "examples" else document_shares(inp)


LOCAL_FILES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}


def local_builder(path: str) -> str | None:
    """The `datasets` builder of a local data file path, None for a hub name or a prefix."""
    return next((b for suffix, b in LOCAL_FILES.items() if path.endswith(suffix)), None)


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def hf_datasets(inp: ExportInput) -> str:
    shares = exact_decimals(document_shares(inp))
    names = list(shares)
    return "\n".join(
        [
            "# Hugging Face datasets: doremi token shares converted to document shares",
            "# (p_i ~ w_i / mean tokens per document). Zero-weight domains are left out.",
            "from datasets import interleave_datasets",
            "",
            f"DOMAINS = {json.dumps(names)}",
            f"PATHS = {json.dumps([inp.path(d) for d in names])}",
            f"PROBABILITIES = [{', '.join(shares[d] for d in names)}]",
            "",
            "# datasets = [load_dataset(...) for path in PATHS]  # one per domain, in this order",
            "# mixed = interleave_datasets(datasets, probabilities=PROBABILITIES, seed=0,",
            '#                             stopping_strategy="first_exhausted")',
            "",
        ]
    )


def megatron(inp: ExportInput) -> str:
    shares = exact_decimals(positive(inp.weights))
    for d in shares:
        if not inp.path(d) or any(c.isspace() for c in inp.path(d)):
            raise DoremiError(
                f"format=megatron: domain {d!r} would be written as the prefix {inp.path(d)!r}, but Megatron splits "
                "--data-args-path on whitespace; map every domain to its data prefix with export.paths=<a .json file "
                f'of {{"{d}": "/data/{d.replace(" ", "_")}_text_document", ...}}>'
            )
    return "".join(f"{w} {inp.path(d)}\n" for d, w in shares.items())


def gpt_neox(inp: ExportInput) -> str:
    shares = exact_decimals(positive(inp.weights))
    lines = ["# GPT-NeoX data config (doremi mixture; weights are shares of tokens)", "train-data-paths:"]
    lines += [f"  - {_yaml_str(inp.path(d))}" for d in shares]
    lines += ["train-data-weights:"] + [f"  - {w}" for w in shares.values()]
    # NeoX requires valid and test data beside train: the same prefixes and weights (point them at held-out data)
    for split in ("valid", "test"):
        lines += [f"{split}-data-paths:"] + [f"  - {_yaml_str(inp.path(d))}" for d in shares]
        lines += [f"{split}-data-weights:"] + [f"  - {w}" for w in shares.values()]
    lines += ["weight_by_num_documents: false", ""]
    return "\n".join(lines)


def mosaic_streams(inp: ExportInput) -> str:
    # streaming proportions count samples; packed chunks of equal length make samples = tokens
    shares = exact_decimals(positive(inp.weights))
    lines = ["# MosaicML streaming / llm-foundry: proportions of samples (equal-length packed samples)", "streams:"]
    for d, w in shares.items():
        lines += [
            f"  {_yaml_str(d)}:",
            f"    remote: {_yaml_str(inp.path(d))}",
            f"    local: {_yaml_str('/tmp/streams/' + d)}",
            "    split: train",
            f"    proportion: {w}",
        ]
    return "\n".join(lines) + "\n"


def litdata(inp: ExportInput) -> str:
    shares = exact_decimals(positive(inp.weights))
    names = list(shares)
    return "\n".join(
        [
            "# litdata / litgpt: weights are shares of (equal-length) samples",
            "from litdata import CombinedStreamingDataset, StreamingDataset",
            "",
            f"PATHS = {json.dumps([inp.path(d) for d in names])}",
            f"WEIGHTS = [{', '.join(shares[d] for d in names)}]",
            "datasets = [StreamingDataset(path) for path in PATHS]",
            "combined = CombinedStreamingDataset(datasets, weights=WEIGHTS, seed=0, iterate_over_all=False)",
            "",
        ]
    )


def olmo_core(inp: ExportInput) -> str:
    shares = exact_decimals(positive(inp.weights))
    lines = ["# OLMo-core source mixture (target_ratio = share of tokens)", "sources:"]
    for d, w in shares.items():
        lines += [f"  - source_name: {_yaml_str(d)}", f"    target_ratio: {w}"]
        if inp.token_budget and inp.available_tokens and inp.available_tokens.get(d):
            repetition = max(float(w) * inp.token_budget / inp.available_tokens[d], 1.0)
            # rounded up: OLMo-core refuses a source whose tokens fall one short of its ratio
            repetition = math.ceil(repetition * 10**4) / 10**4
            if inp.max_epochs:  # a planned mixture: the plan's limit, which its epochs already respect
                repetition = max(repetition, inp.max_epochs)
            lines.append(f"    max_repetition_ratio: {repetition:.4f}")
        lines.append(f"    paths: [{_yaml_str(inp.path(d))}]")
    return "\n".join(lines) + "\n"


def nanotron(inp: ExportInput) -> str:
    # nanotron (src/nanotron/config/config.py, v0.5): data stages whose dataset is NanosetDatasetsArgs; an online
    # schedule becomes one stage per entry (nanotron counts steps from 1: schedule step s starts at s + 1)
    stages = inp.schedule or [(0, inp.weights)]
    lines = [
        "# nanotron data stages (Nanoset): dataset_weights are shares of tokens, in the order of dataset_folder",
        "data_stages:",
    ]
    for n, (step, weights) in enumerate(stages):
        shares = exact_decimals(positive(weights))
        lines += [
            f"  - name: {'doremi' if len(stages) == 1 else f'doremi-{n}'}",
            f"    start_training_step: {int(step) + 1}",
            "    data:",
            "      seed: 42",
            "      dataset:",
            "        dataset_folder:",
        ]
        lines += [f"          - {_yaml_str(inp.path(d))}" for d in shares]
        lines += ["        dataset_weights:"] + [f"          - {w}" for w in shares.values()]
    return "\n".join(lines) + "\n"


def doremi_original(inp: ExportInput) -> str:
    shares = {d: float(w) for d, w in exact_decimals(inp.weights, 12).items()}
    ordered = dict(sorted(shares.items()))  # the original code sorts domain names to fix ids
    return json.dumps({"train_domain_weights": ordered, "eval_domain_weights": ordered}, indent=2) + "\n"


def llama_factory(inp: ExportInput) -> str:
    shares = exact_decimals(example_shares(inp), 12)
    for d in shares:  # LLaMA-Factory splits `dataset` on commas and strips each name
        name = inp.path(d)
        if "," in name or name != name.strip() or not name:
            raise DoremiError(
                f"format=llama-factory: domain {d!r} would be the dataset name {name!r}, but LLaMA-Factory splits "
                "`dataset` on commas and strips spaces; map it to a dataset_info.json name with export.paths"
            )
    return "\n".join(
        [
            "# LLaMA-Factory dataset mixing (interleave_probs in the order of `dataset`)",
            f"dataset: {','.join(inp.path(d) for d in shares)}",
            *([f"dataset_dir: {_yaml_str(inp.dataset_dir)}"] if inp.dataset_dir else []),
            "mix_strategy: interleave_under",
            f'interleave_probs: "{",".join(shares.values())}"',
            "",
        ]
    )


def llama_factory_dataset_info(files: dict[str, str]) -> dict:
    """LLaMA-Factory's dataset_info.json for chat files ({name: file name in the dataset_dir}) in doremi's
    record format ({"messages": [{"role", "content"}, ...]}), as its sharegpt loader reads them."""
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    tags["system_tag"] = "system"
    return {
        name: {"file_name": file, "formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": tags}
        for name, file in files.items()
    }


def trl(inp: ExportInput) -> str:
    shares = exact_decimals(example_shares(inp), 12)
    lines = [
        "# TRL dataset mixture (trl.scripts.utils.get_dataset): fraction = share of examples; TRL keeps the",
        "# first round(fraction x N) rows of each dataset, so shuffle the files first if their order matters",
        "datasets:",
    ]
    for d, w in shares.items():
        path = inp.path(d)
        builder = local_builder(path)
        if builder:  # a local file is loaded with its builder and data_files
            lines += [f"  - path: {builder}", f"    data_files: {_yaml_str(path)}"]
        else:
            lines += [f"  - path: {_yaml_str(path)}"]
        lines += [f"    fraction: {w}"]
    return "\n".join(lines) + "\n"


def axolotl(inp: ExportInput) -> str:
    counts = exact_counts(example_shares(inp), inp.examples_budget)
    lines = [
        f"# Axolotl has no mixture weights: take exactly these many examples ({inp.examples_budget} in all)",
        "datasets:",
    ]
    for d, n in counts.items():
        lines += [f"  - path: {_yaml_str(inp.path(d))}", "    type: chat_template", f"    split: train[:{n}]"]
    return "\n".join(lines) + "\n"


FORMATS = {
    "hf-datasets": (hf_datasets, ".py"),
    "megatron": (megatron, ".txt"),
    "gpt-neox": (gpt_neox, ".yaml"),
    "mosaic": (mosaic_streams, ".yaml"),
    "litdata": (litdata, ".py"),
    "olmo-core": (olmo_core, ".yaml"),
    "nanotron": (nanotron, ".yaml"),
    "doremi-original": (doremi_original, ".json"),
    "llama-factory": (llama_factory, ".yaml"),
    "trl": (trl, ".yaml"),
    "axolotl": (axolotl, ".yaml"),
}
