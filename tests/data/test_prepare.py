"""stage=prepare on files users bring: fields, dotted paths, Parquet, splits, and bad input."""

import json

import numpy as np
import pytest

from doremi.config.errors import DoremiError
from doremi.data.packing import PackedData
from doremi.data.sources import heldout_fraction
from doremi.stages import prepare
from tests.conftest import digits_text, domains_override, synthetic_domains, words_text, write_jsonl


def test_dotted_domain_field_packs_each_domain_with_eod(tmp_path, make_cfg):
    import random

    rng = random.Random(0)
    records = [{"text": words_text(rng, 40), "meta": {"pile_set_name": "Wiki"}} for _ in range(60)] + [
        {"text": digits_text(rng, 200), "meta": {"pile_set_name": "Math"}} for _ in range(60)
    ]
    write_jsonl(tmp_path / "corpus.jsonl", records)
    cfg = make_cfg(f"data.paths=[{tmp_path / 'corpus.jsonl'}]", "data.domain_field=meta.pile_set_name")
    prepare.run(cfg)
    data = PackedData(tmp_path / "run" / "prepare")
    assert data.domains == ["Math", "Wiki"]
    manifest = data.manifest
    for domain, kind in (("Math", "digits"), ("Wiki", "words")):
        docs = manifest["splits"]["train"][domain]["documents"] + manifest["splits"]["val"][domain]["documents"]
        assert docs == 60
        chunks = data.chunks("train", domain)
        assert chunks.shape[1] == 33 and chunks.dtype == np.uint16
        text = bytes(int(t) for t in chunks[0] if t < 256).decode()
        assert (text.replace(" ", "").replace(".", "").isalpha()) if kind == "words" else text.isdigit()
        assert (chunks == 256).any()  # documents end with the end-of-document id
    assert manifest["tokenizer"]["kind"] == "byte" and manifest["tokenizer"]["vocab_size"] == 257
    # the held-out side of a document is fixed by its text alone: val_fraction's share, raised to
    # data.min_val_documents (8) in each domain
    for domain in data.domains:
        by_fraction = sum(heldout_fraction(r["text"]) < 0.1 for r in records if r["meta"]["pile_set_name"] == domain)
        assert manifest["splits"]["val"][domain]["documents"] == max(by_fraction, 8)


@pytest.mark.parametrize(
    "docs, least, raised",
    [
        (40, "null", False),  # val_fraction alone
        (40, 8, True),
        (12, 8, True),  # at most a third of the domain: 4
        (300, 8, False),  # val_fraction already holds out more than 8
    ],
)
def test_min_val_documents_holds_out_the_smallest_hashes(tmp_path, make_cfg, docs, least, raised):
    import random

    rng = random.Random(docs)
    records = [{"text": words_text(rng, 30), "domain": "a"} for _ in range(docs)]
    records += [{"text": digits_text(rng, 300), "domain": "b"} for _ in range(300)]
    write_jsonl(tmp_path / "corpus.jsonl", records)
    prepare.run(make_cfg(f"data.paths=[{tmp_path / 'corpus.jsonl'}]", f"data.min_val_documents={least}"))
    data = PackedData(tmp_path / "run" / "prepare")
    fractions = sorted(heldout_fraction(r["text"]) for r in records if r["domain"] == "a")
    by_fraction = sum(f < 0.1 for f in fractions)
    expected = max(by_fraction, min(8, docs // 3)) if least != "null" else by_fraction
    assert (expected > by_fraction) == raised
    assert data.manifest["splits"]["val"]["a"]["documents"] == expected
    # the held-out documents are the domain's smallest hashes: their tokens are those of the first `expected`
    val_tokens = data.manifest["splits"]["val"]["a"]["tokens"]
    text = {heldout_fraction(r["text"]): r["text"] for r in records if r["domain"] == "a"}
    assert val_tokens == sum(len(text[f].encode()) + 1 for f in fractions[:expected])


def test_parquet_files_per_domain(tmp_path, make_cfg):
    import random

    from datasets import Dataset

    rng = random.Random(1)
    files = {}
    for name, make in (("a", words_text), ("b", digits_text)):
        path = tmp_path / f"{name}.parquet"
        Dataset.from_dict({"body": [make(rng, 80) for _ in range(80)]}).to_parquet(str(path))
        files[name] = str(path)
    prepare.run(make_cfg(domains_override(files), "data.text_field=body"))
    manifest = json.loads((tmp_path / "run" / "prepare" / "manifest.json").read_text())
    assert manifest["domains"] == ["a", "b"]
    assert all(manifest["splits"]["train"][d]["chunks"] > 0 for d in "ab")


def test_prepare_is_deterministic(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"x": "words", "y": "digits"}, n_docs=80)
    prepare.run(make_cfg(domains_override(files)))
    first = (tmp_path / "run" / "prepare" / "train" / "0000.bin").read_bytes()
    prepare.run(make_cfg(domains_override(files), "overwrite=true"))
    assert (tmp_path / "run" / "prepare" / "train" / "0000.bin").read_bytes() == first


def expect_one_line_error(cfg, *fragments):
    with pytest.raises(DoremiError) as err:
        prepare.run(cfg)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_record_without_domain_field_names_file_and_record(tmp_path, make_cfg):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "hello", "domain": "a"}, {"text": "world"}])
    expect_one_line_error(make_cfg(f"data.paths=[{path}]"), f"{path}:2", "'domain'", "data.domain_field")


def test_empty_domain_is_named(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path, {"full": "words"}, n_docs=80)
    files["empty"] = str(tmp_path / "empty.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    expect_one_line_error(make_cfg(domains_override(files)), "'empty'")


def test_domain_shorter_than_one_sequence_is_named(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path, {"big": "words"}, n_docs=80)
    files["tiny"] = str(write_jsonl(tmp_path / "tiny.jsonl", [{"text": "ab"}]))
    expect_one_line_error(make_cfg(domains_override(files)), "'tiny'", "model.seq_len")


def test_missing_corpus_path(tmp_path, make_cfg):
    expect_one_line_error(make_cfg(f"data.paths=[{tmp_path / 'nope.jsonl'}]"), "nope.jsonl")
