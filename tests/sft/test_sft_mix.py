"""LIMA-style SFT mixing: each filter on crafted examples, dedup, quotas, diversity, the stage's outputs."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from doremi.config.errors import DoremiError
from doremi.methods.doremi import dro
from doremi.outputs.export.formats import exact_counts
from doremi.sft.choose import sample_across_categories, select
from doremi.sft.dedup import deduplicate
from doremi.sft.examples import Example, to_example
from doremi.sft.filters import (
    apply_filters,
    first_person,
    length_bounds,
    min_score,
    refers_to_other_answers,
    strip_links_text,
)
from doremi.stages import run_stage
from tests.conftest import write_jsonl

LONG = "Use a context manager so the file is closed even when an exception is raised. " * 20


def ex(response, source="s", category=None, score=None, prompt="How do I read a file?"):
    return Example(
        source, [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], category, score
    )


def test_length_bounds_follow_lima():
    check = length_bounds(1200, 4096)
    assert check(ex("x" * 1199)) and check(ex("x" * 4097))
    assert check(ex("x" * 1200)) is None and check(ex("x" * 4096)) is None


def test_first_person_is_dropped_but_not_inside_code():
    assert first_person(ex("I think you should use pathlib."))
    assert first_person(ex("In my experience this works."))
    assert first_person(ex("Use pathlib.\n\n```python\nI = 1  # my variable\n```\n")) is None
    assert first_person(ex("Imports come first; it is idiomatic.")) is None


def test_answers_referring_to_other_answers_are_dropped():
    assert refers_to_other_answers(ex("As mentioned above, this fails. The other answers miss it."))
    assert refers_to_other_answers(ex("Unlike the accepted answer, use a set."))
    assert refers_to_other_answers(ex("Answer the question with a list comprehension.")) is None


def test_links_and_images_stripped_code_and_lists_kept():
    text = (
        "See [the docs](https://docs.python.org/3/) for details ![diagram](http://x.org/a.png).\n"
        "- item one https://example.com/page\n"
        "- item two\n\n"
        "```python\nurl = 'https://keep.me/in/code'\n```\n"
        "    indented = 'http://kept.too'\n"
    )
    out = strip_links_text(text)
    assert "See the docs for details" in out and "diagram" not in out and "docs.python.org" not in out
    assert "- item one" in out and "example.com" not in out and "- item two" in out
    assert "url = 'https://keep.me/in/code'" in out and "    indented = 'http://kept.too'" in out


def test_min_score_and_the_funnel_counts_reasons_per_source():
    assert min_score(2)(ex(LONG, score=1)) and min_score(2)(ex(LONG, score=3)) is None
    assert min_score(2)(ex(LONG)) is None  # no score: kept
    cfg = SimpleNamespace(
        min_chars=100, max_chars=4096, first_person=True, other_answers=True, strip_links=True, min_score=2
    )
    pool = [ex(LONG, "a"), ex("short", "a"), ex("I " + LONG, "b"), ex(LONG, "b", score=1)]
    kept, funnel = apply_filters(pool, cfg)
    assert len(kept) == 1
    assert funnel == {
        "a": {"response shorter than 100 characters": 1},
        "b": {"answer in the first person": 1, "score below 2": 1},
    }


def test_planted_near_duplicates_are_found_across_sources():
    base = [ex(f"Topic {i}: " + " ".join(f"word{i}_{j}" for j in range(120)), source="a") for i in range(20)]
    exact = ex(base[3].response, source="b")  # same text, other source
    words = base[7].response.split()
    words[10], words[50] = "changed", "edited"  # a near duplicate: two words of 121 differ
    near = ex(" ".join(words), source="c")
    kept, dropped = deduplicate([*base, exact, near], threshold=0.8)
    assert len(kept) == 20
    assert dropped == {"b": {"exact duplicate": 1}, "c": {"near duplicate": 1}}


def test_quotas_sum_exactly_and_temperature_spreads_categories():
    q = exact_counts({"a": 0.5, "b": 0.3, "c": 0.2}, 1001)
    assert q == {"a": 501, "b": 300, "c": 200}  # 500.5, 300.3, 200.2: the largest remainder gets the extra one
    pool = [ex(f"{i}", category="big") for i in range(900)] + [ex(f"s{i}", category=f"small{i % 9}") for i in range(90)]
    follow = sample_across_categories(pool, 100, temperature=1.0, seed=0)
    spread = sample_across_categories(pool, 100, temperature=100.0, seed=0)
    share = lambda picked: sum(e.category == "big" for e in picked) / len(picked)
    assert share(follow) > 0.75 and share(spread) < 0.3
    assert len({id(e) for e in spread}) == 100  # without replacement


def test_small_source_is_reported_and_upsampled_only_when_asked():
    by_source = {"a": [ex(f"a{i}") for i in range(10)], "b": [ex(f"b{i}") for i in range(3)]}
    chosen, report = select(by_source, {"a": 5, "b": 5}, 1.0, 0, upsample=False)
    assert report["b"] == {"quota": 5, "available": 3, "chosen": 3}
    chosen, report = select(by_source, {"a": 5, "b": 5}, 1.0, 0, upsample=True)
    assert len(chosen["b"]) == 5 and report["b"]["chosen"] == 5


def test_records_need_messages_or_prompt_response():
    cfg = SimpleNamespace(source_field="source", category_field="category", score_field="score")
    chat = to_example(
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "source": "x",
            "category": "c",
        },
        None,
        cfg,
        "f:1",
    )
    assert chat.response == "a" and chat.category == "c"
    with pytest.raises(DoremiError, match="f:2.*'prompt' and 'response'"):
        to_example({"question": "q", "source": "x"}, None, cfg, "f:2")


def test_sft_mix_stage_writes_the_set_manifest_and_exports(tmp_path, make_cfg):
    pools = {}
    for source, n in (("stack", 60), ("wiki", 40)):
        records = [
            {
                "prompt": f"{source} question {i}?",
                "response": f"{source} answer {i}: " + LONG,
                "category": f"site{i % 4}",
            }
            for i in range(n)
        ]
        records.append({"prompt": "dup", "response": "I wrote this. " + LONG})  # first person: dropped
        pools[source] = str(write_jsonl(tmp_path / f"{source}.jsonl", records))
    mixture = tmp_path / "sources.json"
    mixture.write_text(json.dumps({"weights": {"stack": 0.75, "wiki": 0.25}}))
    pools_arg = "sft.pools={" + ",".join(f"{k}:'{v}'" for k, v in pools.items()) + "}"
    run_stage(
        make_cfg(
            "stage=sft_mix",
            pools_arg,
            f"sft.mixture={mixture}",
            "sft.budget=40",
            "sft.dev_size=8",
            "sft.dedup.near=false",
        )
    )
    out = tmp_path / "run" / "sft_mix"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quotas"] == {"stack": 30, "wiki": 10}
    assert manifest["train"] == {"stack": 30, "wiki": 10}  # the budget exactly, by largest remainder
    # the dev set is held out of the pools before any filter: sft.dev_size split evenly, at least
    # sft.min_dev_examples (8) per source
    assert manifest["dev"] == {"stack": 8, "wiki": 8} and manifest["format"] == "doremi-sft-mix/v2"
    assert manifest["funnel"]["stack"]["pool"] + manifest["dev"]["stack"] == 61
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    dev = [json.loads(line) for line in (out / "dev.jsonl").read_text().splitlines()]
    assert len(train) == 40 and not {r["id"] for r in train} & {r["id"] for r in dev}
    # another method and budget select other examples, but from the same pools with the same dev set
    other = make_cfg(
        "stage=sft_mix",
        pools_arg,
        "sft.method=random",
        "sft.budget=30",
        "sft.dev_size=8",
        f"run_dir={tmp_path / 'other'}",
    )
    run_stage(other)
    other_dev = [json.loads(line) for line in (tmp_path / "other" / "sft_mix" / "dev.jsonl").read_text().splitlines()]
    assert [r["id"] for r in other_dev] == [r["id"] for r in dev]
    assert (out / "sources" / "wiki.jsonl").exists()
    trl = (out / "exports" / "trl.yaml").read_text()
    assert "sources/stack.jsonl" in trl and "fraction" in trl
    assert "split: train[:" in (out / "exports" / "axolotl.yaml").read_text()
    # the consumers read them: TRL's get_dataset takes every chosen example; LLaMA-Factory's names resolve
    import yaml
    from trl.scripts.utils import DatasetConfig, DatasetMixtureConfig, get_dataset

    config = yaml.safe_load(trl)["datasets"]
    rows = get_dataset(DatasetMixtureConfig(datasets=[DatasetConfig(**d) for d in config]))["train"]
    assert sorted(rows["source"]) == sorted(r["source"] for r in train)
    factory = yaml.safe_load((out / "exports" / "llama-factory.yaml").read_text())
    info = json.loads((Path(factory["dataset_dir"]) / "dataset_info.json").read_text())
    for name in factory["dataset"].split(","):
        assert (Path(factory["dataset_dir"]) / info[name]["file_name"]).is_file()


@pytest.mark.slow
def test_sft_fine_tunes_the_final_model_on_response_tokens(tmp_path, make_cfg):
    from tests.conftest import domains_override, synthetic_domains

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=150)
    base = [domains_override(files), "model.seq_len=64", "final.baselines=[]"]
    for stage in ("prepare", "reference", "proxy", "final"):
        run_stage(make_cfg(*base, f"stage={stage}"))
    records = [
        {"prompt": f"{src} q{i}?", "response": "Answer: " + "the cat sat on the mat. " * 60, "source": src}
        for i in range(24)
        for src in ("alpha", "beta")
    ]
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    sft = [
        f"sft.paths=[{pool}]",
        "sft.budget=32",
        "sft.dev_size=8",
        "sft.epochs=10",
        "sft.lr=3e-3",
        "sft.batch_size=8",
        "sft.dedup.near=false",
        "sft.samples=2",
        "sft.max_new_tokens=20",
    ]
    run_stage(make_cfg(*base, *sft, "stage=sft_mix"))
    run_stage(make_cfg(*base, *sft, "stage=sft"))
    result = json.loads((tmp_path / "run" / "sft" / "eval.json").read_text())
    assert set(result["dev_loss_after"]) == {"alpha", "beta"}
    for source in ("alpha", "beta"):  # the responses are learnable: their loss falls
        assert result["dev_loss_after"][source] < result["dev_loss_before"][source] - 0.5
    assert len(result["samples"]) == 2 and all(isinstance(s["answer"], str) for s in result["samples"])
    run_stage(make_cfg(*base, *sft, "stage=report"))
    report = (tmp_path / "reports" / "demo" / "report.md").read_text()
    assert "## SFT mix" in report and "## SFT\n" in report

    prompts = [f"Question {i} about the {src} pool, asked at some length so that it fills the whole window?"
               for i in range(24) for src in ("alpha", "beta")]  # fmt: skip
    long = write_jsonl(tmp_path / "long.jsonl", [{**r, "prompt": p} for r, p in zip(records, prompts)])
    long_sft = [*sft, f"sft.paths=[{long}]", "overwrite=true"]
    run_stage(make_cfg(*base, *long_sft, "stage=sft_mix"))
    with pytest.raises(DoremiError, match="no chat in .*train.jsonl has a response token within the final model's "
                       r"64-token sequences \(model.seq_len\)"):  # fmt: skip
        run_stage(make_cfg(*base, *long_sft, "stage=sft"))


@pytest.mark.slow
def test_learned_quotas_favour_the_source_whose_responses_the_proxy_lags_on(tmp_path, make_cfg):
    import random

    from tests.conftest import domains_override, synthetic_domains

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=150)
    base = [domains_override(files), "model.seq_len=96"]
    for stage in ("prepare", "reference"):
        run_stage(make_cfg(*base, f"stage={stage}"))
    rng = random.Random(0)
    template = "the cat sat on the mat. "

    def digits(n):
        return "".join(rng.choice("0123456789") for _ in range(n))

    # a learnable template and random digits, chats of equal length: 'noise' has twice as much of
    # the template as 'template', but in its prompts. Counted on response tokens only, 'template'
    # has the excess loss; counted on all tokens, 'noise' would.
    records = [{"prompt": digits(22), "response": template + digits(8), "source": "template"} for _ in range(40)]
    records += [{"prompt": template * 2, "response": digits(6), "source": "noise"} for _ in range(40)]
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    learned = [
        f"sft.paths=[{pool}]",
        "sft.mixture=learned",
        "sft.filters.min_chars=5",
        "sft.dedup.near=false",
        "sft.budget=50",
        "sft.dev_size=4",
        "sft.learn.steps=30",
        "sft.learn.batch_size=8",
        "sft.lr=3e-3",
        "stage=sft_mix",
    ]
    run_stage(make_cfg(*base, *learned))
    out = tmp_path / "run" / "sft_mix"
    mixture = json.loads((out / "learned" / "mixture.json").read_text())
    weights = mixture["weights"]
    assert weights["template"] > 0.6 > weights["noise"], weights
    assert mixture["provenance"]["method"] == "doremi-sft" and mixture["provenance"]["steps"] == 30

    previous = torch.full((2,), 0.5, dtype=torch.float64)  # the trajectory follows DESIGN's update exactly
    records = [json.loads(line) for line in (out / "learned" / "trajectory.jsonl").read_text().splitlines()]
    for record in records:
        excess = torch.tensor([record["excess"][s] for s in ("noise", "template")], dtype=torch.float64)
        logged = torch.tensor([record["weights"][s] for s in ("noise", "template")], dtype=torch.float64)
        assert (dro.update_weights(previous, excess, 1.0, 1e-3) - logged).abs().max() < 1e-12
        previous = logged
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quotas"] == exact_counts(weights, 50) and manifest["learned"] == "learned/mixture.json"
    assert json.loads((tmp_path / "mixtures" / "demo-sft.json").read_text())["weights"] == weights


def test_learned_quotas_without_a_base_model_name_the_stage_to_run(prepared, make_cfg):
    cfg, _ = prepared
    cfg.stage, cfg.sft.mixture = "sft_mix", "learned"
    with pytest.raises(
        DoremiError,
        match=r"stage=sft_mix reads .*reference/model.pt \(the reference model\), but .* is not finished: run stage=reference first",
    ):
        run_stage(cfg)


def test_a_set_made_before_the_fixed_dev_set_is_refused_in_one_line(tmp_path):
    from doremi.pipeline.sft_sets import check_set_format

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "doremi-sft-mix/v1"}))
    with pytest.raises(DoremiError, match=r"dev split came from the selected set itself.* rerun stage=sft_mix with overwrite=true"):  # fmt: skip
        check_set_format(tmp_path, "sft")
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "doremi-sft-mix/v2"}))
    check_set_format(tmp_path, "sft")
