"""Exports handed to their consumers' own code: the weights each consumer ends up using must
equal the mixture's (or its example-share equivalent) within 1e-6.

Driven for real (the `consumers` extra): Megatron-LM's blend parsing (megatron-core), OLMo-core's
source mixture builder (ai2-olmo-core), litdata's CombinedStreamingDataset, TRL's get_dataset,
Hugging Face datasets (which LLaMA-Factory and Axolotl load through).

Checked against the consumer's rules as its own source states them at a named version, written
here from that source, where the consumer does not install beside torch 2.13 on a CPU machine:
GPT-NeoX v2.0, nanotron v0.5, the original DoReMi code v1.0.1, LLaMA-Factory 0.9.5 (its wheel
pins transformers <= 5.6 and needs torchaudio), Axolotl v0.18.0, MosaicML streaming 0.13.0 (its
package imports torchvision, whose PyPI wheel does not load beside the CPU torch).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from doremi.config.errors import DoremiError
from doremi.outputs.export import export_input, export_mixture
from doremi.outputs.export.formats import ExportInput, llama_factory_dataset_info

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


def pile_paths(root: str = "/data/pile") -> dict[str, str]:
    return {d: f"{root}/{d.replace(' ', '_')}" for d in pile_weights()}


def test_gpt_neox_file_has_train_valid_and_test_data():
    # GPT-NeoX v2.0 (megatron/neox_arguments/arguments.py, ea7aefd): train, valid and test data paths must all be
    # given (an assert), and each weights list is read in the order of its paths; YAML keys may use '-' for '_'
    config = yaml.safe_load(export_mixture(export_input(PILE, paths=pile_paths()), "gpt-neox"))
    args = {key.replace("-", "_"): value for key, value in config.items()}
    assert all(args.get(f"{split}_data_paths") for split in ("train", "valid", "test"))
    for split in ("train", "valid", "test"):
        assert args[f"{split}_data_paths"] == list(pile_paths().values())
        np.testing.assert_allclose(args[f"{split}_data_weights"], list(pile_weights().values()), atol=1e-6)
    assert args["weight_by_num_documents"] is False  # else NeoX reweights by document counts


def test_nanotron_data_stage_is_a_nanoset_with_matching_weights():
    # nanotron v0.5 (src/nanotron/config/config.py, 2411b02): data_stages[] = {name, start_training_step >= 0,
    # data: {seed, dataset: NanosetDatasetsArgs}}; dataset_weights must match dataset_folder in length
    config = yaml.safe_load(export_mixture(export_input(PILE, paths=pile_paths()), "nanotron"))
    (stage,) = config["data_stages"]
    assert isinstance(stage["name"], str) and stage["start_training_step"] >= 0
    dataset = stage["data"]["dataset"]
    assert set(dataset) == {"dataset_folder", "dataset_weights"}
    assert dataset["dataset_folder"] == list(pile_paths().values())
    np.testing.assert_allclose(dataset["dataset_weights"], list(pile_weights().values()), atol=1e-6)


def test_original_doremi_reads_its_sorted_normalized_weights():
    # sangmichaelxie/doremi v1.0.1 (doremi/train.py and dataloader.py, 7cde52d): domain_config['train_domain_weights']
    # and ['eval_domain_weights']; domain ids are the sorted names, weights divided by their sum
    config = json.loads(export_mixture(export_input(PILE), "doremi-original"))
    for key in ("train_domain_weights", "eval_domain_weights"):
        names = sorted(config[key])
        used = np.asarray([config[key][d] for d in names])
        used = used / used.sum()
        expected = {**{d: 0.0 for d in names}, **pile_weights()}
        np.testing.assert_allclose(used, [expected[d] for d in names], atol=1e-9)


def write_tokens(path: Path, n: int) -> None:
    np.arange(n, dtype=np.uint16).tofile(path)  # OLMo-core's token files: raw arrays of the token dtype


def olmo_mixture(config: dict, budget: int, seq_len: int = 16):
    from olmo_core.data.source_mixture import SourceMixtureConfig, SourceMixtureDatasetConfig, SourceMixtureList

    sources = [SourceMixtureConfig(**source) for source in config["sources"]]
    built = SourceMixtureDatasetConfig(
        source_list=SourceMixtureList(sources=sources),
        requested_tokens=budget,
        global_batch_size=seq_len * 4,
        render_tables=False,
        quiet=True,
    ).build(npdtype=np.uint16, sequence_length=seq_len)
    return sources, built


def test_olmo_core_builds_the_pile_mixture_with_rounded_up_repetition(tmp_path):
    # OLMo-core's own builder: it refuses a source whose available x max_repetition_ratio falls short of its ratio
    weights = {"Books3": 0.0432, "PubMed Central": 0.3, "Pile-CC": 0.6568}
    available = {"Books3": 22397, "PubMed Central": 150_000, "Pile-CC": 700_000}
    paths = {}
    for d, n in available.items():
        paths[d] = str(tmp_path / f"{d}.npy")
        write_tokens(Path(paths[d]), n)
    inp = ExportInput(weights, paths, available_tokens=available, token_budget=1_000_000)
    config = yaml.safe_load(export_mixture(inp, "olmo-core"))
    sources, built = olmo_mixture(config, inp.token_budget)
    np.testing.assert_allclose([s.target_ratio for s in sources], list(weights.values()), atol=1e-6)
    assert [s.source_name for s in sources] == list(weights)
    selected = {o.name: sum(p.tokens for p in o.path_tokens) for o in built.sources}
    total = sum(selected.values())
    for d, w in weights.items():  # whole sequences of 16 tokens: within one sequence of the ratio
        assert abs(selected[d] / total - w) < 2 * 16 / total * len(weights)


def test_olmo_core_takes_a_planned_mixtures_budget_and_repetition_limit(tmp_path):
    from doremi.outputs.plan import plan

    learned = {"Books3": 0.3, "PubMed Central": 0.3, "Pile-CC": 0.4}
    available = {"Books3": 50_000, "PubMed Central": 300_000, "Pile-CC": 2_000_000}
    result = plan(learned, available, 1_000_000, max_epochs=4.0)
    assert result.weights["Books3"] == pytest.approx(0.2)  # 6 epochs wanted, 4 allowed: the cap binds
    mixture = tmp_path / "planned.json"
    mixture.write_text(
        json.dumps(
            {
                "weights": result.weights,
                "provenance": {
                    "method": "plan",
                    "token_budget": 1_000_000,
                    "available_tokens": available,
                    "constraints": {"max_epochs": 4.0},
                },
            }
        )
    )
    paths = {}
    for d, n in available.items():
        paths[d] = str(tmp_path / f"{d}.npy")
        write_tokens(Path(paths[d]), n)
    inp = export_input(mixture, paths=paths)  # no export.token_budget: the plan's
    config = yaml.safe_load(export_mixture(inp, "olmo-core"))
    limits = {s["source_name"]: s["max_repetition_ratio"] for s in config["sources"]}
    assert limits["Books3"] == pytest.approx(4.0, abs=1e-4)  # the plan caps Books3 at 4 epochs, so does OLMo-core
    assert all(limit >= 4.0 for limit in limits.values())
    sources, _ = olmo_mixture(config, 1_000_000)  # OLMo-core accepts the planned mixture at the plan's budget
    used = {s.source_name: s.target_ratio for s in sources}
    np.testing.assert_allclose([used[d] for d in learned], [result.weights[d] for d in learned], atol=1e-6)


def test_litdata_combined_dataset_uses_the_mixture_weights(tmp_path):
    from litdata.streaming.writer import BinaryWriter

    weights = {"PubMed Central": 0.2, "Pile-CC": 0.8}
    paths = {}
    for i, d in enumerate(weights):
        paths[d] = str(tmp_path / d.replace(" ", "_"))
        writer = BinaryWriter(paths[d], chunk_size=64)
        for j in range(300):
            writer.add_item(j, {"domain": i})
        writer.done()
        writer.merge()
    namespace: dict = {}
    exec(export_mixture(ExportInput(weights, paths), "litdata"), namespace)  # the snippet as written
    combined = namespace["combined"]
    np.testing.assert_allclose(combined._weights, list(weights.values()), atol=1e-6)
    seen = [item["domain"] for _, item in zip(range(300), combined)]
    assert abs(seen.count(1) / 300 - 0.8) < 0.1  # and it samples in those shares


def test_mosaic_streams_follow_streaming_rules():
    # MosaicML streaming 0.13.0 (streaming/base/stream.py and dataset.py): each stream sets at most one of
    # proportion/repeat/choose, and with proportions every stream must set one; llm-foundry reads `streams:` as
    # {name: Stream keyword arguments}
    config = yaml.safe_load(export_mixture(export_input(PILE, paths=pile_paths("s3://pile")), "mosaic"))
    streams = config["streams"]
    assert list(streams) == list(pile_weights())
    for name, stream in streams.items():
        assert set(stream) <= {"remote", "local", "split", "proportion", "repeat", "choose"}
        assert stream["remote"] == pile_paths("s3://pile")[name]
    np.testing.assert_allclose([s["proportion"] for s in streams.values()], list(pile_weights().values()), atol=1e-6)


def test_axolotl_loads_exactly_the_exported_counts(tmp_path):
    # Axolotl v0.18.0 (src/axolotl/utils/data/shared.py, 067b021): a local file is loaded with
    # load_dataset(<json unless the extension says otherwise>, data_files=path, split=<split, slices kept>)
    import datasets

    sizes = {"api docs": 50, "manual": 40}
    files = {}
    for source, n in sizes.items():
        files[source] = str(tmp_path / f"{source.replace(' ', '_')}.jsonl")
        write_chats(Path(files[source]), n, source)
    shares = {"api docs": 0.75, "manual": 0.25}
    inp = ExportInput(shares, files, unit="examples", examples_budget=40)
    entries = yaml.safe_load(export_mixture(inp, "axolotl"))["datasets"]
    loaded = {}
    for entry, source in zip(entries, shares):
        rows = datasets.load_dataset("json", data_files=entry["path"], split=entry["split"])
        assert entry["type"] == "chat_template" and "messages" in rows.column_names  # axolotl's default field
        loaded[source] = len(rows)
    assert loaded == {"api docs": 30, "manual": 10}


def test_llama_factory_reads_the_sft_files_through_dataset_info(tmp_path):
    # LLaMA-Factory 0.9.5 (hparams/data_args.py, data/parser.py, data/loader.py, data/converter.py,
    # data/data_utils.py): `dataset` and `interleave_probs` are split on ',' and stripped, probabilities read
    # with float() and as many as datasets; each name is a key of <dataset_dir>/dataset_info.json whose
    # file_name is relative to dataset_dir; sharegpt reads the messages column with the role/content tags,
    # user and assistant turns alternating after an optional system turn; interleave_under mixes with
    # datasets.interleave_datasets(probabilities=..., stopping_strategy="first_exhausted")
    import datasets

    counts = {"api docs": 60, "manual": 20}
    for name, n in counts.items():
        write_chats(tmp_path / f"{name.replace(' ', '_')}.jsonl", n, name)
    info = llama_factory_dataset_info({name: f"{name.replace(' ', '_')}.jsonl" for name in counts})
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    shares = {name: n / 80 for name, n in counts.items()}
    inp = ExportInput(shares, {n: n for n in counts}, unit="examples", dataset_dir=str(tmp_path))
    config = yaml.safe_load(export_mixture(inp, "llama-factory"))
    names = [item.strip() for item in config["dataset"].split(",")]
    probs = list(map(float, [item.strip() for item in config["interleave_probs"].split(",")]))
    assert names == list(counts) and len(probs) == len(names)
    np.testing.assert_allclose(probs, list(shares.values()), atol=1e-9)
    info = json.loads((Path(config["dataset_dir"]) / "dataset_info.json").read_text())
    parts = []
    for name in names:
        entry = info[name]
        assert entry["formatting"] == "sharegpt"
        part = datasets.load_dataset("json", data_files=str(Path(config["dataset_dir"]) / entry["file_name"]))
        tags = entry["tags"]
        for row in part["train"]:
            turns = row[entry["columns"]["messages"]]
            if turns and turns[0][tags["role_tag"]] == tags["system_tag"]:
                turns = turns[1:]
            roles = [t[tags["role_tag"]] for t in turns]
            assert roles[0::2] == [tags["user_tag"]] * len(roles[0::2]) and len(roles) % 2 == 0
            assert roles[1::2] == [tags["assistant_tag"]] * len(roles[1::2])
        parts.append(part["train"])
    mixed = datasets.interleave_datasets(parts, probabilities=probs, seed=0, stopping_strategy="first_exhausted")
    first = [row["messages"][0]["content"].startswith("api docs") for row in mixed]
    assert abs(sum(first[:40]) / 40 - 0.75) < 0.2


def test_llama_factory_refuses_a_dataset_name_with_a_comma():
    inp = ExportInput({"code, c": 0.5, "docs": 0.5}, unit="examples")
    with pytest.raises(DoremiError, match="'code, c'.*splits `dataset` on commas"):
        export_mixture(inp, "llama-factory")
