"""Your target (target.paths): read, deduplicated against the training data, scored by every model of a compare, and
what the recommendation reads; bad target files refused in one line before anything trains."""

import json
import random

import numpy as np
import pytest

from doremi.config.errors import DoremiError
from doremi.data.packing import PackedData
from doremi.data.target import load_target
from doremi.data.tokenizer import ByteTokenizer
from doremi.stages import run_stage
from tests.conftest import digits_text, domains_override, synthetic_domains, write_jsonl


def corpus(tmp_path):
    return synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits", "more": "words"}, seed=1)


def digits_target(tmp_path, n: int = 24):
    """New documents of the `numbers` domain's kind (another seed: none is a training document)."""
    rng = random.Random("target-digits")
    return write_jsonl(tmp_path / "target" / "mine.jsonl", [{"body": digits_text(rng, 80)} for _ in range(n)])


def training_texts(tmp_path, domain: str, n: int) -> list[str]:
    """The first `n` training documents of a prepared domain, decoded (the byte tokenizer is exact)."""
    data = PackedData(tmp_path / "run" / "prepare")
    stream = np.asarray(data.chunks("train", domain)).reshape(-1)
    ends = np.flatnonzero(stream == ByteTokenizer().eod_id)
    starts = np.concatenate([[0], ends + 1])
    return [bytes(stream[a:b].astype(np.uint8).tolist()).decode() for a, b in zip(starts[1:n], ends[1:n])]


def test_the_target_is_packed_and_its_training_duplicates_are_dropped_and_counted(tmp_path, make_cfg):
    files = corpus(tmp_path)
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    data = PackedData(tmp_path / "run" / "prepare")
    copies = training_texts(tmp_path, "prose", 4)
    mine = [{"text": t} for t in copies] + [{"text": digits_text(random.Random(i), 50)} for i in range(5)]
    mine.append({"text": "   "})
    path = write_jsonl(tmp_path / "t.jsonl", mine)
    target = load_target([str(path)], "text", data, ByteTokenizer())
    said = target.describe()
    assert (said["documents_read"], said["overlapping_training"], said["empty"], said["documents"]) == (9, 3, 1, 5)
    # every kept document's scored tokens: its bytes and its end-of-document id, less the first token of each row
    # that starts inside it (context only); the filler that completes the last row is scored nowhere
    tokens = target.heldout.doc_tokens
    assert (tokens[:5] > 0).all() and (tokens[5:] == 0).all()
    assert tokens.sum() <= 5 * 51 and tokens.sum() >= 5 * 51 - len(target.heldout.tokens)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda tmp: str(tmp / "nowhere" / "*.jsonl"), r"target.paths: no file matches .*nowhere"),
        (
            lambda tmp: str(write_jsonl(tmp / "empty.jsonl", [{"text": ""}])),
            r"target.paths: .*holds no document with text",
        ),
        (
            lambda tmp: str(write_jsonl(tmp / "other.jsonl", [{"body": "x"}])),
            r"other.jsonl:1: record has no field 'text'",
        ),
        (
            lambda tmp: str(
                write_jsonl(tmp / "copies.jsonl", [{"text": t} for t in training_texts(tmp, "numbers", 6)])
            ),
            r"target.paths: all 5 target documents are also training documents",
        ),
    ],
)
def test_a_bad_target_is_one_line_before_anything_trains(tmp_path, make_cfg, make, match):
    files = corpus(tmp_path)
    run_stage(make_cfg(domains_override(files), "stage=prepare"))
    path = make(tmp_path)
    with pytest.raises(DoremiError, match=match):
        run_stage(make_cfg(domains_override(files), "stage=compare", f"target.paths=[{path}]"))
    assert not (tmp_path / "run" / "trials").exists() and not (tmp_path / "run" / "learn").exists()


def test_learn_target_external_needs_target_paths(make_cfg):
    with pytest.raises(DoremiError, match=r"learn.target=external needs target.paths"):
        run_stage(make_cfg("stage=compare", "learn.target=external"))


@pytest.mark.slow
def test_the_method_aimed_at_your_target_is_decided_better_on_it_and_published(tmp_path, make_cfg):
    """Planted: the target is the `numbers` domain's kind of text. The compare of a fresh run_dir, judging on the
    target alone at the default design, is given no method aimed at it: DoGE joins, leans to `numbers`, is decided
    better than stratified (a third each) and its mixture is published."""
    files = corpus(tmp_path)
    target = digits_target(tmp_path)
    cfg = make_cfg(
        domains_override(files),
        "stage=compare",
        "compare.methods=[stratified]",
        "doge.steps=40",
        f"target.paths=[{target}]",
        "target.text_field=body",
        "final.seeds=3",
        "trainer.max_steps=40",
    )
    run_stage(cfg)
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    assert board["target"]["external"]["documents"] == 24 and board["target"]["external"]["overlapping_training"] == 0
    assert board["target"]["decided_on"] is True
    rows = {r["method"]: r for r in board["rows"]}
    assert rows["doge"]["weights"]["numbers"] > 0.4  # no listed method aimed at the target: DoGE joined
    assert rows["doge"]["target_loss"] < rows["stratified"]["target_loss"]
    assert rows["doge"]["decision"]["better"] and rows["doge"]["decision"]["bound"] < 0
    assert board["recommendation"]["method"] == "doge"
    assert board["target"]["spread"]["slopes"]["numbers"] < 0
    from doremi.outputs.report.tables import leaderboard_table

    header, _ = leaderboard_table(board)
    assert "target loss" in header and any("your target vs stratified" in h for h in header)
    published = json.loads((tmp_path / "mixtures" / "demo.json").read_text())
    assert published["provenance"]["method"] == "doge" and published["weights"]["numbers"] > 0.4
    # every trial was scored on the same target documents
    trials = list((tmp_path / "run" / "trials").glob("*/result.json"))
    assert trials and all(
        json.loads(t.read_text())["target"]["digest"] == board["target"]["external"]["digest"] for t in trials
    )


def test_a_target_for_a_method_that_cannot_use_it_is_one_line(tmp_path, make_cfg):
    target = digits_target(tmp_path)
    with pytest.raises(DoremiError, match=r"method=stratified does not aim at a target: .*doge"):
        run_stage(make_cfg("stage=learn", "method=stratified", f"target.paths=[{target}]"))
    with pytest.raises(DoremiError, match=r"sft.method=lima does not select toward a target"):
        run_stage(make_cfg("stage=sft_mix", "sft.method=lima", f"sft.target.paths=[{target}]"))
    assert not (tmp_path / "run" / "prepare").exists()


def test_the_report_says_the_ranking_reads_your_target():
    from doremi.outputs.report.document import target_words

    said = {"paths": ["mine.jsonl"], "documents": 24}
    assert target_words({"kind": "target", "domains": None, "external": said, "decided_on": True}).startswith(
        "your target (24 documents of mine.jsonl"
    )
    assert target_words({"kind": "target", "domains": ["a", "b"]}) == "target (a, b)"
    assert target_words({"kind": "average", "domains": None}) == "average"


@pytest.mark.slow
def test_a_target_no_mixture_moves_ends_with_the_control_and_says_how_flat_it_is(tmp_path, make_cfg):
    """Planted null: two domains of the same kind of text (words, two draws) and a target of that kind (a third draw):
    leaning to either domain cannot change the target's loss, so no mixture is decided better, and the summary says
    the target's loss barely moved while the planted case's moved by far more."""
    files = synthetic_domains(tmp_path / "src", {"one": "words"}, seed=1)
    files["two"] = synthetic_domains(tmp_path / "src2", {"two": "words"}, seed=2)["two"]
    rng = random.Random("flat")
    from tests.conftest import words_text

    target = write_jsonl(tmp_path / "t.jsonl", [{"text": words_text(rng, 50)} for _ in range(24)])
    lean = tmp_path / "lean.json"
    lean.write_text(json.dumps({"weights": {"one": 0.8, "two": 0.2}}))
    cfg = make_cfg(domains_override(files), "stage=compare", f"compare.methods=[stratified,{lean}]", "doge.steps=10",
                   f"target.paths=[{target}]", "final.seeds=3", "trainer.max_steps=40")  # fmt: skip
    summary = run_stage_summary(cfg)
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    assert board["recommendation"]["method"] == "stratified"
    spread = board["target"]["spread"]
    assert spread["range"] < 0.05 and "Your target's loss over the mixtures" in summary


def run_stage_summary(cfg) -> str:
    from doremi.stages.run import run_recipe

    return run_recipe(cfg, "compare")
