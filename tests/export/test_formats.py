"""Each export read back the way its consumer reads it."""

import ast
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml

from doremi.config.errors import DoremiError
from doremi.outputs.export import FORMATS, export_input, export_mixture
from doremi.outputs.export.formats import exact_counts, exact_decimals

# in sorted order, as a mixture file without a `domains` list is read
WEIGHTS = {"code": 0.3333333333333333, "math": 0.1666666666666667, "web": 0.5}
MEAN_TOKENS = {"web": 100.0, "code": 400.0, "math": 50.0}


@pytest.fixture
def inp(tmp_path):
    mixture = tmp_path / "m.json"
    mixture.write_text(json.dumps({"weights": WEIGHTS}))
    manifest = tmp_path / "manifest.json"
    train = {d: {"tokens": int(MEAN_TOKENS[d] * 1000), "documents": 1000} for d in WEIGHTS}
    manifest.write_text(json.dumps({"splits": {"train": train}}))
    return export_input(mixture, manifest, {"web": "/data/web_text_document"}, token_budget=600_000)


def assert_sums_to_one(values):
    assert sum(Decimal(str(v)) for v in values) == 1


def test_exact_decimals_and_counts():
    shares = exact_decimals({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert_sums_to_one(shares.values())
    assert exact_counts({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 1000) == {"a": 334, "b": 333, "c": 333}


def test_megatron_data_args(inp):
    pairs = export_mixture(inp, "megatron").split()
    weights, prefixes = [float(w) for w in pairs[0::2]], pairs[1::2]
    assert prefixes == ["code", "math", "/data/web_text_document"]
    np.testing.assert_allclose(weights, list(WEIGHTS.values()), atol=1e-6)
    assert_sums_to_one(pairs[0::2])


@pytest.mark.parametrize(
    "fmt, paths_key, weights_key",
    [("gpt-neox", "train-data-paths", "train-data-weights"), ("nanotron", "dataset_folder", "dataset_weights")],
)
def test_path_and_weight_lists(inp, fmt, paths_key, weights_key):
    config = yaml.safe_load(export_mixture(inp, fmt))
    if fmt == "nanotron":
        config = config["data_stages"][0]["data"]["dataset"]
    assert config[paths_key] == ["code", "math", "/data/web_text_document"]
    np.testing.assert_allclose(config[weights_key], list(WEIGHTS.values()), atol=1e-6)
    assert_sums_to_one(config[weights_key])
    if fmt == "gpt-neox":
        assert config["weight_by_num_documents"] is False


def test_mosaic_streams(inp):
    streams = yaml.safe_load(export_mixture(inp, "mosaic"))["streams"]
    assert list(streams) == list(WEIGHTS)
    assert_sums_to_one(s["proportion"] for s in streams.values())
    assert streams["web"]["remote"] == "/data/web_text_document"


def test_olmo_core_sources_with_repetition(inp):
    sources = yaml.safe_load(export_mixture(inp, "olmo-core"))["sources"]
    assert [s["source_name"] for s in sources] == list(WEIGHTS)
    assert all(s["target_ratio"] > 0 for s in sources)
    assert_sums_to_one(s["target_ratio"] for s in sources)
    # math: 1/6 of 600k tokens from 50k available -> repeated 2x
    assert sources[1]["max_repetition_ratio"] == pytest.approx(600_000 / 6 / 50_000, rel=1e-4)


def test_litdata_snippet_is_valid_python_with_the_weights(inp):
    text = export_mixture(inp, "litdata")
    tree = ast.parse(text)
    assigned = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and n.targets[0].id in ("PATHS", "WEIGHTS")
    }
    assert assigned["PATHS"][2] == "/data/web_text_document"
    np.testing.assert_allclose(assigned["WEIGHTS"], list(WEIGHTS.values()), atol=1e-6)


def test_original_doremi_json_reads_back(inp, tmp_path):
    from doremi.data.mixture import load_mixture

    out = tmp_path / "orig.json"
    export_mixture(inp, "doremi-original", out)
    raw = json.loads(out.read_text())
    assert list(raw["train_domain_weights"]) == sorted(WEIGHTS)
    assert load_mixture(out) == pytest.approx(WEIGHTS)


def test_sft_formats_sample_examples_so_token_shares_become_example_shares(inp):
    # shares of examples ~ token share / mean tokens per example (document)
    raw = {d: WEIGHTS[d] / MEAN_TOKENS[d] for d in WEIGHTS}
    examples = {d: v / sum(raw.values()) for d, v in raw.items()}
    lf = yaml.safe_load(export_mixture(inp, "llama-factory"))
    probs = lf["interleave_probs"].split(",")
    assert_sums_to_one(probs) and lf["dataset"].split(",")[:2] == ["code", "math"]
    np.testing.assert_allclose([float(p) for p in probs], list(examples.values()), atol=1e-9)
    trl = yaml.safe_load(export_mixture(inp, "trl"))["datasets"]
    assert_sums_to_one(d["fraction"] for d in trl)
    np.testing.assert_allclose([d["fraction"] for d in trl], list(examples.values()), atol=1e-9)
    axolotl = yaml.safe_load(export_mixture(inp, "axolotl"))["datasets"]
    counts = [int(d["split"].split(":")[1].rstrip("]")) for d in axolotl]
    assert sum(counts) == 1000 and counts == [91, 364, 545]  # 1000 x (0.0909, 0.3636, 0.5455)


def test_hf_datasets_probabilities_give_the_token_shares_in_interleave_datasets(inp):
    """Drive the real datasets.interleave_datasets with the exported probabilities."""
    from datasets import Dataset, interleave_datasets

    namespace: dict = {}
    exec(export_mixture(inp, "hf-datasets"), namespace)
    datasets = [
        Dataset.from_dict({"domain": [d] * 20000, "n_tokens": [int(MEAN_TOKENS[d])] * 20000})
        for d in namespace["DOMAINS"]
    ]
    mixed = interleave_datasets(
        datasets, probabilities=namespace["PROBABILITIES"], seed=0, stopping_strategy="first_exhausted"
    )
    sample = mixed.select(range(20000))
    tokens = {d: 0 for d in WEIGHTS}
    for domain, n in zip(sample["domain"], sample["n_tokens"]):
        tokens[domain] += n
    total = sum(tokens.values())
    for d, w in WEIGHTS.items():
        assert abs(tokens[d] / total - w) < 0.02, (d, tokens[d] / total, w)


def test_document_shares_need_the_manifest(tmp_path):
    mixture = tmp_path / "m.json"
    mixture.write_text(json.dumps({"weights": WEIGHTS}))
    with pytest.raises(DoremiError, match="mean tokens per document"):
        export_mixture(export_input(mixture), "hf-datasets")


def test_unknown_format_names_the_closest():
    with pytest.raises(DoremiError, match="closest: megatron"):
        export_mixture(None, "megatrom")


def test_cli_export(tmp_path):
    mixture = Path(__file__).resolve().parents[2] / "mixtures" / "pile_doremi_280m.json"
    names = json.loads(mixture.read_text())["weights"]
    paths = tmp_path / "paths.json"
    paths.write_text(json.dumps({d: f"/data/{d.replace(' ', '_')}_text_document" for d in names}))
    out = tmp_path / "pile.txt"
    command = [sys.executable, "-m", "doremi", "stage=export", f"mixture={mixture}", "format=megatron", f"out={out}"]
    result = subprocess.run(
        [*command, f"run_dir={tmp_path}", f"export.paths={paths}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 22 and lines[0].split()[1] == "/data/ArXiv_text_document"
    assert_sums_to_one(line.split()[0] for line in lines)


def test_format_all_writes_every_format_and_a_readme_without_importing_torch(tmp_path):
    mixture = Path(__file__).resolve().parents[2] / "mixtures" / "pile_doremi_280m.json"
    names = json.loads(mixture.read_text())["weights"]
    paths = tmp_path / "paths.json"
    paths.write_text(json.dumps({d: f"/data/{d.replace(' ', '_')}_text_document" for d in names}))
    out = tmp_path / "exports"
    argv = ["doremi", "stage=export", f"mixture={mixture}", "format=all", f"out={out}", f"run_dir={tmp_path}"]
    script = (
        "import sys\nfrom doremi.__main__ import main\n"
        f"sys.argv = {[*argv, f'export.paths={paths}']!r}\n"
        "main()\nprint('torch' in sys.modules, 'pytorch_lightning' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]  # exporting imports no training stack
    readme = (out / "README.md").read_text()
    written = sorted(p.name for p in out.iterdir() if p.name != "README.md")
    # without a prepare manifest the example- and document-share formats cannot convert units: named, not written
    needs_manifest = {"hf-datasets", "llama-factory", "trl", "axolotl"}
    assert written == sorted(f"pile_doremi_280m.{f}{ext}" for f, (_, ext) in FORMATS.items() if f not in needs_manifest)
    for name in written:
        assert f"`{name}`" in readme
    for fmt in needs_manifest:
        assert f"- `{fmt}`: this format samples documents" in readme
        assert f"[export] {fmt}: not written" in result.stderr
    megatron = (out / "pile_doremi_280m.megatron.txt").read_text().split()
    assert len(megatron) == 44
