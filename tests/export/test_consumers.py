"""Exports handed to their consumers' own code: the weights each consumer ends up using must
equal the mixture's (or its example-share equivalent) within 1e-6.

Driven for real: Megatron-LM's blend parsing (megatron-core), TRL's get_dataset, Hugging Face
datasets. Checked against the consumer's rules as its source states them (named below), where
the consumer cannot be installed here: GPT-NeoX, OLMo-core's repetition check, LLaMA-Factory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from doremi.errors import DoremiError
from doremi.export import export_input, export_mixture
from doremi.export.formats import ExportInput, llama_factory_dataset_info

PILE = Path(__file__).resolve().parents[2] / "mixtures" / "pile_doremi_280m.json"


def pile_weights() -> dict[str, float]:
    weights = json.loads(PILE.read_text())["weights"]
    total = sum(weights.values())
    return {d: w / total for d, w in weights.items() if w > 0}


def test_megatron_refuses_names_with_spaces_and_names_the_domain(tmp_path):
    with pytest.raises(DoremiError, match="'Pile-CC'|'PubMed Central'|'DM Mathematics'") as err:
        export_mixture(export_input(PILE), "megatron")
    assert "export.paths" in str(err.value)


def test_megatron_core_reads_the_pile_blend_as_written(tmp_path):
    from megatron.core.datasets.utils import get_blend_from_list

    paths = {d: f"/data/pile/{d.replace(' ', '_')}_text_document" for d in pile_weights()}
    text = export_mixture(export_input(PILE, paths=paths), "megatron")
    # megatron-lm's --data-args-path: the file's text split on whitespace, then get_blend_from_list
    prefixes, weights = get_blend_from_list(text.split())
    assert prefixes == [paths[d] for d in pile_weights()]
    np.testing.assert_allclose(weights, list(pile_weights().values()), atol=1e-6)


def write_chats(path: Path, n: int, tag: str) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"{tag} q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_trl_get_dataset_loads_local_files_with_the_example_shares(tmp_path):
    from trl.scripts.utils import DatasetConfig, DatasetMixtureConfig, get_dataset

    counts = {"api docs": 30, "manual": 10}
    files = {}
    for source, n in counts.items():
        files[source] = tmp_path / f"{source.replace(' ', '_')}.jsonl"
        write_chats(files[source], n, source)
    shares = {s: n / 40 for s, n in counts.items()}
    inp = ExportInput(shares, {s: str(f) for s, f in files.items()}, unit="examples")
    config = yaml.safe_load(export_mixture(inp, "trl"))["datasets"]
    mixture = get_dataset(DatasetMixtureConfig(datasets=[DatasetConfig(**d) for d in config]))
    rows = mixture["train"]["messages"]
    seen = {s: sum(r[0]["content"].startswith(s) for r in rows) for s in counts}
    assert seen == counts  # every example, in the shares of the set
    np.testing.assert_allclose([d["fraction"] for d in config], list(shares.values()), atol=1e-9)


def test_hf_interleave_probabilities_are_the_document_shares(tmp_path):
    import datasets

    weights = {"a": 0.25, "b": 0.75}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {"splits": {"train": {"a": {"tokens": 1000, "documents": 10}, "b": {"tokens": 1000, "documents": 10}}}}
        )
    )
    mixture = tmp_path / "m.json"
    mixture.write_text(json.dumps({"weights": weights}))
    namespace: dict = {}
    exec(export_mixture(export_input(mixture, manifest), "hf-datasets"), namespace)
    parts = [datasets.Dataset.from_dict({"d": [name] * 4000}) for name in namespace["DOMAINS"]]
    mixed = datasets.interleave_datasets(parts, probabilities=namespace["PROBABILITIES"], seed=0)
    share = mixed["d"][:4000].count("b") / 4000
    assert abs(share - 0.75) < 0.03 and namespace["PROBABILITIES"] == [0.25, 0.75]


def test_gpt_neox_file_has_train_valid_and_test_data():
    # GPT-NeoX (megatron/neox_arguments/arguments.py at v2.0): with train-data-paths set, valid-data-paths and
    # test-data-paths must be set too, each with a weights list of the same length
    paths = {d: f"/data/{d.replace(' ', '_')}" for d in pile_weights()}
    config = yaml.safe_load(export_mixture(export_input(PILE, paths=paths), "gpt-neox"))
    for split in ("train", "valid", "test"):
        assert len(config[f"{split}-data-paths"]) == len(config[f"{split}-data-weights"]) == len(paths)
        np.testing.assert_allclose(config[f"{split}-data-weights"], list(pile_weights().values()), atol=1e-6)


def test_olmo_core_repetition_ratio_is_rounded_up_so_its_token_check_passes():
    # OLMo-core 3.0 (data/source_mixture.py) requires available x max_repetition_ratio >= the tokens the
    # ratio asks for; Books3-like numbers where rounding to nearest falls one token short
    inp = ExportInput(
        {"Books3": 0.0432, "rest": 0.9568}, available_tokens={"Books3": 22397, "rest": 10**9}, token_budget=1_000_000
    )
    for source in yaml.safe_load(export_mixture(inp, "olmo-core"))["sources"]:
        name = source["source_name"]
        needed = float(source["target_ratio"]) * inp.token_budget
        assert inp.available_tokens[name] * source["max_repetition_ratio"] >= math.ceil(needed) - 1e-9


def test_llama_factory_reads_the_sft_files_through_dataset_info(tmp_path):
    # LLaMA-Factory (data/parser.py at v0.9.5): each name in `dataset` is a key of <dataset_dir>/dataset_info.json,
    # whose file_name is relative to dataset_dir; sharegpt formatting reads `messages` with role/content tags
    write_chats(tmp_path / "docs.jsonl", 3, "docs")
    info = llama_factory_dataset_info({"docs": "docs.jsonl"})
    inp = ExportInput({"docs": 1.0}, {"docs": "docs"}, unit="examples", dataset_dir=str(tmp_path))
    config = yaml.safe_load(export_mixture(inp, "llama-factory"))
    for name in config["dataset"].split(","):
        entry = info[name]
        rows = [
            json.loads(line) for line in (Path(config["dataset_dir"]) / entry["file_name"]).read_text().splitlines()
        ]
        tags = entry["tags"]
        assert {m[tags["role_tag"]] for m in rows[0][entry["columns"]["messages"]]} == {
            tags["user_tag"],
            tags["assistant_tag"],
        }
