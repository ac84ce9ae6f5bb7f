"""Corpora as users bring them: compressed files, domain maps, caps, bad bytes, tokenizers."""

import gzip
import json
import random

import numpy as np
import pytest

from doremi.config.errors import DoremiError
from doremi.data import sources
from doremi.data.packing import PackedData
from doremi.stages import prepare, run_stage
from tests.conftest import digits_text, domains_override, synthetic_domains, words_text, write_jsonl


def corpus_records(n=60, seed=0):
    rng = random.Random(seed)
    records = []
    for i in range(n):
        records.append({"text": words_text(rng, 50), "meta": {"set": "Pile-CC" if i % 2 else "OpenWebText2"}})
        records.append({"text": digits_text(rng, 250), "meta": {"set": "DM Mathematics"}})
    return records


def manifest(tmp_path):
    return json.loads((tmp_path / "run" / "prepare" / "manifest.json").read_text())


def test_compressed_jsonl_gz_and_zst(tmp_path, make_cfg):
    import zstandard

    records = corpus_records()
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(body))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    for name in ("a.jsonl.gz", "b.jsonl.zst"):
        prepare.run(make_cfg(f"data.paths=[{tmp_path / name}]", "data.domain_field=meta.set", "overwrite=true"))
        counts = manifest(tmp_path)["splits"]
        assert sum(counts[s][d]["documents"] for s in counts for d in counts[s]) == len(records)


def test_domain_map_merges_renames_and_drops(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", corpus_records())
    prepare.run(
        make_cfg(
            f"data.paths=[{path}]",
            "data.domain_field=meta.set",
            "data.domain_map={Pile-CC: web, OpenWebText2: web, DM Mathematics: null}",
        )
    )
    m = manifest(tmp_path)
    assert m["domains"] == ["web"]
    assert m["splits"]["train"]["web"]["documents"] + m["splits"]["val"]["web"]["documents"] == 60


def test_domain_map_with_unknown_source_names_the_closest(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", corpus_records())
    with pytest.raises(DoremiError, match="closest: Pile-CC"):
        prepare.run(make_cfg(f"data.paths=[{path}]", "data.domain_field=meta.set", "data.domain_map={Pile-C: web}"))


def test_caps_keep_the_same_documents_whatever_the_file_order(tmp_path, make_cfg):
    records = corpus_records(n=100)
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    digests = []
    for name, recs in (("ordered.jsonl", records), ("shuffled.jsonl", shuffled)):
        path = write_jsonl(tmp_path / name, recs)
        prepare.run(
            make_cfg(f"data.paths=[{path}]", "data.domain_field=meta.set", "data.max_documents=30", "overwrite=true")
        )
        m = manifest(tmp_path)
        for domain in m["domains"]:
            assert m["splits"]["train"][domain]["documents"] + m["splits"]["val"][domain]["documents"] == 30
        digests.append(m["data_hash"])
    assert digests[0] == digests[1]


def test_token_cap_bounds_each_domain(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", corpus_records(n=100))
    prepare.run(make_cfg(f"data.paths=[{path}]", "data.domain_field=meta.set", "data.max_tokens=6000"))
    m = manifest(tmp_path)
    for domain in m["domains"]:
        tokens = m["splits"]["train"][domain]["tokens"] + m["splits"]["val"][domain]["tokens"]
        assert 6000 - 300 < tokens <= 6000  # documents are ~250-300 tokens


def test_invalid_utf8_is_an_error_naming_the_offset_or_replaced_on_request(tmp_path, make_cfg):
    good = "".join(json.dumps({"text": words_text(random.Random(i), 40), "domain": "a"}) + "\n" for i in range(80))
    path = tmp_path / "bad.jsonl"
    path.write_bytes(good.encode() + b'{"text": "caf\xe9 ' + b"x" * 200 + b'", "domain": "a"}\n')
    with pytest.raises(DoremiError, match=f"{path}: invalid UTF-8 at byte {len(good.encode()) + 13}"):
        prepare.run(make_cfg(f"data.paths=[{path}]"))
    prepare.run(make_cfg(f"data.paths=[{path}]", "data.invalid_utf8=replace"))
    m = manifest(tmp_path)
    assert m["splits"]["train"]["a"]["documents"] + m["splits"]["val"]["a"]["documents"] == 81


def test_huge_document_is_tokenized_in_pieces_with_the_same_result(tmp_path, make_cfg, monkeypatch):
    files = synthetic_domains(tmp_path / "src", {"a": "words", "b": "digits"}, n_docs=60)
    prepare.run(make_cfg(domains_override(files)))
    whole = (tmp_path / "run" / "prepare" / "train" / "0000.bin").read_bytes()
    monkeypatch.setattr(sources, "PIECE_CHARS", 7)
    prepare.run(make_cfg(domains_override(files), "overwrite=true"))
    assert (tmp_path / "run" / "prepare" / "train" / "0000.bin").read_bytes() == whole


def test_bpe_tokenizer_is_trained_saved_and_checked_by_later_stages(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"a": "words", "b": "digits"}, n_docs=120)
    prepare.run(make_cfg(domains_override(files), "tokenizer=bpe", "tokenizer.vocab_size=320"))
    data = PackedData(tmp_path / "run" / "prepare")
    assert data.tokenizer["kind"] == "bpe" and data.tokenizer["vocab_size"] <= 320
    assert data.dtype == np.uint16
    from doremi.data.tokenizer import load_saved

    tok = load_saved(data.dir, "bpe")
    assert tok.identity() == data.tokenizer
    row = data.chunks("train", "a")[0]
    assert "the" in tok.decode([int(t) for t in row if t != tok.eod_id])
    # a later stage run with another tokenizer stops, naming the difference
    with pytest.raises(DoremiError, match="tokenizer.kind=byte"):
        run_stage(make_cfg(domains_override(files), "stage=reference"))


def test_pretrained_tokenizer_that_does_not_load(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"a": "words"}, n_docs=60)
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json")
    with pytest.raises(DoremiError, match="could not load a tokenizer"):
        prepare.run(make_cfg(domains_override(files), "tokenizer=pretrained", f"tokenizer.path={broken}"))


def test_sharded_prepare_merges_to_exactly_the_single_machine_result(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", corpus_records(n=80))
    base = [f"data.paths=[{path}]", "data.domain_field=meta.set"]
    prepare.run(make_cfg(*base))
    single = tmp_path / "run" / "prepare"
    expected = {p.relative_to(single): p.read_bytes() for p in single.rglob("*.bin")}
    expected_manifest = json.loads((single / "manifest.json").read_text())
    import shutil

    shutil.rmtree(single)
    for shard in range(3):
        prepare.run(make_cfg(*base, "prepare.num_shards=3", f"prepare.shard={shard}"))
    with pytest.raises(DoremiError, match="shard 1 of 4 is missing"):
        prepare.run(make_cfg(*base, "prepare.num_shards=4", "prepare.shard=0"))
        prepare.run(make_cfg(*base, "prepare.num_shards=4"))
    prepare.run(make_cfg(*base, "prepare.num_shards=3"))
    merged = {p.relative_to(single): p.read_bytes() for p in single.rglob("*.bin")}
    assert merged.keys() == expected.keys() and merged == expected
    manifest = json.loads((single / "manifest.json").read_text())
    for key in ("domains", "splits", "tokenizer", "data_hash"):
        assert manifest[key] == expected_manifest[key]


def test_hub_dataset_code_path_with_a_local_stream_of_the_same_schema(tmp_path, make_cfg, monkeypatch):
    """Everything up to the network call: datasets.load_dataset(name, config, split, streaming=True)."""
    import datasets

    records = corpus_records(n=60)
    calls = []

    def fake_load_dataset(name, config=None, split=None, streaming=False, **kwargs):
        calls.append((name, config, split, streaming))
        return iter(records)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    prepare.run(make_cfg("data.dataset=some/pile-copy", "data.dataset_config=all", "data.domain_field=meta.set"))
    # streamed twice: data.min_val_documents counts each domain's documents first (hashing only)
    assert calls == [("some/pile-copy", "all", "train", True)] * 2
    calls.clear()
    prepare.run(make_cfg("data.dataset=some/pile-copy", "data.dataset_config=all", "data.domain_field=meta.set",
                         "data.min_val_documents=null", "overwrite=true"))  # fmt: skip
    assert calls == [("some/pile-copy", "all", "train", True)]
    assert manifest(tmp_path)["domains"] == ["DM Mathematics", "OpenWebText2", "Pile-CC"]


def test_record_without_text_field_names_file_record_and_key(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", [{"body": "x", "domain": "a"}])
    with pytest.raises(DoremiError, match=r"c.jsonl:1: record has no field 'text'; set data.text_field"):
        prepare.run(make_cfg(f"data.paths=[{path}]"))


def test_reference_mixture_with_a_domain_the_data_lacks_names_the_closest(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=80)
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"weights": {"prose": 0.5, "number": 0.5}}))
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    with pytest.raises(DoremiError, match="'number' is not in the data \\(closest: numbers\\)"):
        run_stage(make_cfg(domains_override(files), "stage=reference", f"reference.mixture={mix}"))
