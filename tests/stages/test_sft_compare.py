"""stage=sft_compare: SFT sets judged side by side on one fixed dev set, against planted truths; its bad input;
LoRA through the same fine-tune."""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.config.errors import DoremiError
from doremi.stages import run_stage
from tests.conftest import TINY, domains_override, synthetic_domains, write_jsonl
from tests.planted_sft import corrupted_pool, duplicated_pool, lookup

BASE = ["model.seq_len=48", "model.d_model=64", "model.n_layer=2", "final.baselines=[]", "method=stratified"]
SFT = ["sft.dev_size=32", "sft.lr=6e-3", "sft.batch_size=8", "sft.dedup.near=false", "sft.filters.min_chars=1",
       "sft.compare.target=[clean]"]  # fmt: skip


def compose_in(root: Path, *overrides: str):
    base = [f"run_dir={root / 'run'}", f"mixtures_dir={root / 'mixtures'}", f"reports_dir={root / 'reports'}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[*base, *TINY, *overrides])


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A run whose pipeline is done (the base every SFT set fine-tunes): (root, its settings)."""
    root = tmp_path_factory.mktemp("sft-base")
    files = synthetic_domains(root / "src", {"prose": "words", "numbers": "digits"}, n_docs=150)
    settings = [domains_override(files), *BASE]
    run_stage(compose_in(root, *settings, "stage=all"))
    return root, settings


def fresh(base_run, tmp_path, name: str) -> tuple[Path, list[str]]:
    """Another run_dir with the base run's finished stages (trials and SFT stages start empty)."""
    import shutil

    root, settings = base_run
    shutil.copytree(root / "run", tmp_path / name / "run", ignore=shutil.ignore_patterns("trials", "sft*", ".locks"))
    return tmp_path / name, settings


def board_of(root: Path) -> dict:
    return json.loads((root / "run" / "sft_compare" / "leaderboard.json").read_text())


def target(board: dict, method: str) -> dict:
    return next(r for r in board["rows"] if r["method"] == method)["vs"]["random"]["target"]


@pytest.mark.slow
def test_a_quality_classifier_beats_random_where_a_source_is_corrupted_and_an_equal_method_ties(base_run, tmp_path):
    root, settings = fresh(base_run, tmp_path, "corrupt")
    pool = write_jsonl(tmp_path / "pool.jsonl", corrupted_pool())  # two thirds: responses shuffled across prompts
    seeds = write_jsonl(tmp_path / "seed.jsonl", lookup(24, "clean", 7, start=9000))
    sft = [*SFT, f"sft.paths=[{pool}]", f"sft.seed_set={seeds}", "sft.budget=96", "sft.epochs=15",
           "sft.dropout_top=0.1", "sft.compare.seeds=5", "sft.compare.methods=[quality,longest]"]  # fmt: skip
    run_stage(compose_in(root, *settings, *sft, "stage=sft_compare"))
    board = board_of(root)
    quality = next(r for r in board["rows"] if r["method"] == "quality")
    assert quality["sources"]["clean"] > 0.6 * 96  # it keeps the clean source's examples
    assert target(board, "quality")["verdict"] == "better", target(board, "quality")
    # longest: every response has three letters, so it picks by id: random in all but name, and it ties
    assert target(board, "longest")["verdict"] == "no detectable difference", target(board, "longest")
    assert board["recommendation"]["method"] == "quality"
    dev = [json.loads(line) for line in (root / "run" / "sft_compare" / "recommended" / "dev.jsonl").read_text().splitlines()]  # fmt: skip
    for folder in (root / "run" / "trials" / "sft-sets").iterdir():  # no selection saw a dev example
        chosen = {json.loads(line)["id"] for line in (folder / "set.jsonl").read_text().splitlines()}
        assert not chosen & {r["id"] for r in dev}, folder.name


@pytest.mark.slow
def test_a_diverse_set_beats_random_where_a_source_is_near_duplicates(base_run, tmp_path):
    root, settings = fresh(base_run, tmp_path, "dup")
    pool = write_jsonl(tmp_path / "pool.jsonl", duplicated_pool())  # three quarters: near-copies of one example
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=48", "sft.epochs=30", "sft.dropout_top=0", "sft.compare.seeds=5",
           "sft.compare.methods=[diverse]"]  # fmt: skip
    run_stage(compose_in(root, *settings, *sft, "stage=sft_compare"))
    board = board_of(root)
    diverse = next(r for r in board["rows"] if r["method"] == "diverse")
    rand = next(r for r in board["rows"] if r["method"] == "random")
    assert diverse["sources"]["clean"] > 2 * rand["sources"]["clean"]
    assert target(board, "diverse")["verdict"] == "better", target(board, "diverse")
    assert diverse["cost"]["forward_passes"] == 640 - 32  # one per pool example, the dev set held out


def test_sft_compare_leaderboard_forgetting_publishing_reuse_and_report(base_run, tmp_path, capsys):
    root, settings = fresh(base_run, tmp_path, "small")
    records = lookup(24, "clean", 0) + lookup(24, "other", 1, start=500)
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=12", "sft.epochs=1", "sft.dev_size=16", "sft.compare.seeds=2", "sft.compare.design=single",
           "sft.compare.methods=[lima,longest,ifd,diverse]", "sft.compare.target=average"]  # fmt: skip
    cfg = compose_in(root, *settings, *sft, "stage=sft_compare")
    run_stage(cfg)
    out = capsys.readouterr()
    assert "6 sets (lima, longest, ifd, diverse, random, stratified): up to 12 fine-tunes" in out.err
    assert "Recommendation:" in out.out and "forgetting" in out.out
    board = board_of(root)
    assert {r["method"] for r in board["rows"]} == {"lima", "longest", "ifd", "diverse", "random", "stratified"}
    for row in board["rows"]:
        assert row["examples"] == 12 and row["seeds"] == [0, 1]
        assert row["forgetting"]["after"] == pytest.approx(row["forgetting"]["before"] + row["forgetting"]["increase"])
        if row["method"] not in ("random", "stratified") and not row["same_models_as"]:
            assert set(row["vs"]) == {"random", "stratified"} and "interval" in row["vs"]["random"]["average"]
    ifd = next(r for r in board["rows"] if r["method"] == "ifd")
    assert ifd["cost"]["forward_passes"] == 2 * (48 - 16)  # two per pool example
    published = root / "run" / "sft_compare" / "recommended"
    manifest = json.loads((published / "manifest.json").read_text())
    assert manifest["method"] == board["recommendation"]["method"] and (published / "exports" / "trl.yaml").is_file()
    trials = sorted((root / "run" / "trials").glob("sft-*-seed-*"))
    stamps = {t: (t / "result.json").stat().st_mtime_ns for t in trials}
    run_stage(compose_in(root, *settings, *sft, "sft.compare.seeds=3", "overwrite=true", "stage=sft_compare"))
    assert all((t / "result.json").stat().st_mtime_ns == s for t, s in stamps.items())  # a third seed reuses two
    run_stage(compose_in(root, *settings, *sft, "sft.compare.seeds=3", "stage=report"))
    report = (root / "reports" / "demo" / "report.md").read_text()
    assert report.index("Which SFT set should I fine-tune on?") < report.index("Domain weights")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["sft.compare.methods=[random,best]"], r"sft.compare.methods: 'best' is not an SFT set method"),
        (
            ["sft.budget=500"],
            r"sft.budget=500 is more than the 32 examples the pools hold once the dev set is held out",
        ),
        (["sft.lora.r=8"], r"sft.lora.r=8: LoRA \(peft\) adapts Hugging Face models \(model=hf\)"),
        (["sft.compare.methods=[quality]", "SEEDSET"], r"sft.seed_set=.* holds 0 example\(s\)"),
        (["sft.compare.target=[nowhere]"], r"sft.compare.target names 'nowhere', not a source"),
        (["TINYSOURCE"], r"source 'tiny' has 2 example\(s\), too few to hold out a dev example"),
    ],
)
def test_bad_sft_compare_input_is_one_line_before_any_training(base_run, tmp_path, extra, message):
    root, settings = fresh(base_run, tmp_path, "bad")
    records = lookup(24, "clean", 0) + lookup(24, "other", 1, start=500)
    if "TINYSOURCE" in extra:
        records += lookup(2, "tiny", 2, start=900)
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    extra = [f"sft.seed_set={empty}" if e == "SEEDSET" else e for e in extra if e != "TINYSOURCE"]
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=12", "sft.dev_size=16", "sft.compare.methods=[longest]", *extra]
    with pytest.raises(DoremiError, match=message):
        run_stage(compose_in(root, *settings, *sft, "stage=sft_compare"))
    assert not list((root / "run").glob("trials/sft-*-seed-*"))  # nothing trained


@pytest.mark.slow
def test_lora_fine_tunes_a_hugging_face_model_and_trains_only_its_adapters(tmp_path):
    """model=hf with sft.lora.r=4: peft's adapters train, the merged model is saved and scored like a full one."""
    from doremi.sft.tune import trainable_share
    from doremi.store.checkpoints import read_model
    from doremi.training.model import build_model

    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=120)
    hf = ["model=hf", "model.hf_config={model_type: llama, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2}"]  # fmt: skip
    settings = [domains_override(files), *hf, *BASE]
    run_stage(compose_in(tmp_path, *settings, "stage=all"))
    pool = write_jsonl(tmp_path / "pool.jsonl", lookup(48, "clean", 0) + lookup(48, "other", 1, start=500))
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=32", "sft.epochs=25", "sft.lr=3e-2", "sft.lora.r=4", "sft.method=random"]  # fmt: skip
    for stage in ("sft_mix", "sft"):
        run_stage(compose_in(tmp_path, *settings, *sft, f"stage={stage}"))
    result = json.loads((tmp_path / "run" / "sft" / "eval.json").read_text())
    assert result["lora"]["r"] == 4
    assert result["dev_loss_after"]["clean"] < result["dev_loss_before"]["clean"] - 0.2  # the adapters learned
    base, tuned = read_model(tmp_path / "run" / "final" / "model.pt", ""), read_model(tmp_path / "run" / "sft" / "model.pt", "")  # fmt: skip
    assert set(tuned["state_dict"]) == set(base["state_dict"])  # merged: a plain model again, no adapter weights
    changed = [k for k in base["state_dict"] if not (base["state_dict"][k] == tuned["state_dict"][k]).all()]
    assert changed and all("proj" in k for k in changed)  # LoRA adapts attention projections only
    build_model(tuned["model_config"]).load_state_dict(tuned["state_dict"])
    cfg = compose_in(tmp_path, *settings, *sft)
    assert 0 < trainable_share(base, cfg.sft) < 0.2


def test_a_first_sft_compare_on_a_fresh_run_dir_is_one_command(tmp_path, capsys):
    """From a fresh run_dir: the pipeline up to the base model runs first, then the SFT leaderboard is printed
    with intervals, forgetting and one recommendation, and the recommended set is published."""
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=100)
    pool = write_jsonl(tmp_path / "pool.jsonl", lookup(24, "clean", 0) + lookup(24, "other", 1, start=500))
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=12", "sft.epochs=1", "sft.dev_size=16", "sft.compare.seeds=2",
           "sft.compare.methods=[longest]", "sft.compare.target=average"]  # fmt: skip
    run_stage(compose_in(tmp_path, domains_override(files), *BASE, *sft, "stage=sft_compare"))
    out = capsys.readouterr().out
    assert (tmp_path / "run" / "final" / "done.json").is_file()  # the pipeline ran first
    assert "estimate (average vs random)" in out and "forgetting" in out and "Recommendation:" in out
    assert "published:" in out and (tmp_path / "run" / "sft_compare" / "recommended" / "train.jsonl").is_file()


def test_sft_compare_reaches_for_a_resolution_with_steins_rule(base_run, tmp_path):
    root, settings = fresh(base_run, tmp_path, "resolve")
    pool = write_jsonl(tmp_path / "pool.jsonl", lookup(24, "clean", 0) + lookup(24, "other", 1, start=500))
    sft = [*SFT, f"sft.paths=[{pool}]", "sft.budget=12", "sft.epochs=1", "sft.dev_size=16", "sft.compare.seeds=3",
           "sft.compare.methods=[longest]", "sft.compare.target=average", "sft.compare.resolution=0.001",
           "sft.compare.max_seeds=3"]  # fmt: skip
    run_stage(compose_in(root, *settings, *sft, "stage=sft_compare"))
    board = board_of(root)
    stein = board["resolution"]
    assert stein["pilot_seeds"] == 3 and set(stein["seeds"].values()) <= {3}
    for name in stein["limited_by_documents"]:  # 0.001 is below what 16 dev examples allow: no seed helps
        assert stein["seeds"][name] == 3
    assert stein["seeds"]["random"] == max(stein["seeds"].values())
    for row in board["rows"]:
        assert len(row["seeds"]) == stein["seeds"][row["method"]]


def other_task(n: int) -> list[dict]:
    """The same keys asked another way and answered by another code table: another kind of task."""
    from tests.planted_sft import KEYS, codes

    table = codes(1)
    return [{"prompt": f"code of {KEYS[i % len(KEYS)]} #{i:05d}", "response": table[KEYS[i % len(KEYS)]], "source": "other"}
            for i in range(n)]  # fmt: skip


@pytest.mark.slow
def test_sets_chosen_for_your_target_keep_its_kind_of_task_and_beat_random_on_it(base_run, tmp_path):
    """Planted: the target is new examples of the `mine` source's task; less keeps mostly that source and the
    compare, judged on the target alone, decides it better than random; nearest (selection only) keeps it too."""
    root, settings = fresh(base_run, tmp_path, "target")
    pool = write_jsonl(tmp_path / "pool.jsonl", lookup(160, "mine", 0) + other_task(160))
    mine = write_jsonl(tmp_path / "target.jsonl", lookup(24, "whatever", 0, start=9000))
    sft = [*SFT, f"sft.paths=[{pool}]", f"sft.target.paths=[{mine}]", "sft.budget=64", "sft.epochs=12",
           "sft.dropout_top=0.1", "sft.compare.seeds=5"]  # fmt: skip
    run_stage(compose_in(root, *settings, *sft, "sft.compare.methods=[less]", "stage=sft_compare"))
    board = board_of(root)
    assert board["target"]["external"]["examples"] == 24 and board["target"]["kind"] == "target"
    rows = {r["method"]: r for r in board["rows"]}
    assert rows["less"]["sources"]["mine"] > 0.75 * 64, rows["less"]["sources"]
    assert board["recommendation"]["method"] == "less", board["recommendation"]["line"]
    assert rows["less"]["decision"]["better"] and rows["less"]["decision"]["bound"] < 0
    run_stage(compose_in(root, *settings, *sft, "sft.method=nearest", "stage=sft_mix"))
    chosen = [json.loads(line) for line in (root / "run" / "sft_mix" / "train.jsonl").read_text().splitlines()]
    assert sum(r["source"] == "mine" for r in chosen) > 0.75 * len(chosen)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["sft.compare.methods=[less]"], r"sft.compare.methods has less, which select toward your target"),
        (["sft.target.paths=[/nowhere/t.jsonl]"], r"sft.target.paths: no file matches '/nowhere/t.jsonl'"),
    ],
)
def test_a_target_method_without_a_target_or_a_missing_target_file_is_one_line(tmp_path, extra, match):
    with pytest.raises(DoremiError, match=match):
        run_stage(compose_in(tmp_path, "stage=sft_compare", *extra))
    assert not (tmp_path / "run" / "prepare").exists() and not (tmp_path / "run" / "trials").exists()
