"""What stage=sft_mix, stage=sft and stage=sft_compare share: the pools with the fixed dev set held out, the
base model, the services an SFT set method gets (the base model's scorer, learned quotas), and writing a set
(train.jsonl, dev.jsonl, sources/, exports for LLaMA-Factory, TRL and Axolotl)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from doremi.config import settings
from doremi.config.errors import DoremiError
from doremi.config.settings import DroSettings, SftSettings, TrainerSettings
from doremi.data.tokenizer import load_saved
from doremi.outputs.export import ExportInput, export_mixture
from doremi.outputs.export.formats import llama_factory_dataset_info
from doremi.pipeline.common import load_checkpoint, say, stage_dir
from doremi.sft.demo import demo_pool
from doremi.sft.devset import hold_out
from doremi.sft.examples import Example, read_pools, read_target
from doremi.sft.methods import SetContext
from doremi.store.files import safe_file_name, write_json_atomic

SET_FORMAT = "doremi-sft-mix/v2"  # v2: dev.jsonl is the fixed dev set held out of the pools before any selection


def read_pool(cfg: DictConfig) -> list[Example]:
    sft = cfg.sft
    pool = read_pools(sft) if sft.pools or sft.paths or sft.dataset else demo_pool()
    if not pool:
        raise DoremiError("sft: the pools hold no examples; check sft.pools / sft.paths")
    for ex in pool:
        if not ex.source.strip():
            raise DoremiError(f"sft: an example has an empty source name ({ex.prompt[:40]!r}); name every source")
    return pool


def pools_and_dev(cfg: DictConfig, stage: str) -> tuple[dict[str, list[Example]], list[Example], dict]:
    """(the pool by source without the dev set, the dev set, the hold-out's record), said in one line."""
    pool = read_pool(cfg)
    dev, rest, info = hold_out(pool, int(cfg.sft.dev_size), int(cfg.sft.min_dev_examples))
    by_source: dict[str, list[Example]] = {}
    for ex in rest:
        by_source.setdefault(ex.source, []).append(ex)
    pooled = Counter(ex.source for ex in pool)
    say(
        f"[{stage}] {len(pool):,} examples from {len(pooled)} sources ("
        + ", ".join(f"{s} {pooled[s]}" for s in sorted(pooled))
        + f"); dev set held out before any selection: {len(dev)} ("
        + ", ".join(f"{s} {v['dev']}" for s, v in info.items())
        + ")"
    )
    return by_source, dev, info


def check_budget(cfg: DictConfig, pool: dict[str, list[Example]], key: str = "sft.budget") -> None:
    available = sum(len(v) for v in pool.values())
    if int(cfg.sft.budget) > available and not cfg.sft.counts:
        raise DoremiError(
            f"{key}={cfg.sft.budget} is more than the {available} examples the pools hold once the dev set is held "
            f"out: lower {key} or add pools"
        )


def base_path(cfg: DictConfig, spec: str, key: str) -> tuple[Path, str]:
    """The model.pt `spec` names (reference | final | a path), and the stage that makes it."""
    if spec in ("reference", "final"):
        return stage_dir(cfg, spec) / "model.pt", f"stage={spec}"
    return Path(spec), f"a stage that saves a model.pt ({key})"


def load_base(cfg: DictConfig, data, spec: str, key: str) -> tuple[dict, Path]:
    path, what = base_path(cfg, spec, key)
    if not path.exists():
        raise DoremiError(
            f"{key}={spec}: {path} is not there: run {what} first (same run_dir=) or point {key} at a model.pt"
        )
    return load_checkpoint(path, data, what), path


def sft_optim(cfg: DictConfig) -> dict:
    """The fine-tuning optimizer settings (sft.*) in doremi.training.lm.make_optimizer's form, no warmup."""
    sft = settings.of(cfg, SftSettings)
    return {
        "lr": sft.lr,
        "betas": list(sft.betas),
        "weight_decay": sft.weight_decay,
        "warmup_steps": 0,
        "min_lr_ratio": sft.min_lr_ratio,
        "fused": OmegaConf.select(cfg, "optim.fused", default="auto"),
    }


def context(
    cfg: DictConfig, data, pool: dict, folder: Path, scoring_base: tuple[dict, Path] | None, target=None
) -> SetContext:
    """A method's context; the base model (for scoring) and the learned quotas' base are loaded on first use;
    `target`: sft.target.paths's examples (read_target), for the methods that aim at them."""
    from doremi.training.train import device_for

    cache: dict = {}

    def scorer():
        if "scorer" not in cache:
            from doremi.sft.score import Scorer
            from doremi.training.model import build_model

            base = scoring_base or load_base(cfg, data, str(cfg.sft.base), "sft.base")
            model = build_model(base[0]["model_config"])
            model.load_state_dict(base[0]["state_dict"])
            tokenizer = load_saved(data.dir, data.tokenizer["kind"])
            cache["scorer"] = Scorer(model, tokenizer, device_for(settings.of(cfg, TrainerSettings)))
        return cache["scorer"]

    def learn_quotas(by_source: dict) -> dict:
        from doremi.methods.doremi.sft_quotas import learn_source_weights

        base, path = load_base(cfg, data, str(cfg.sft.learn.base), "sft.learn.base")
        return learn_source_weights(
            base,
            path,
            load_saved(data.dir, data.tokenizer["kind"]),
            by_source,
            sorted(pool),
            folder / "learned",
            steps=int(cfg.sft.learn.steps),
            batch_size=int(cfg.sft.learn.batch_size),
            optim=sft_optim(cfg),
            dro=settings.of(cfg, DroSettings),
            run=settings.of(cfg, TrainerSettings),
            seed=int(cfg.seed),
        )

    if target is None:
        target = read_target(cfg.sft)
    return SetContext(cfg, pool, int(cfg.sft.budget), int(cfg.sft.seed), folder, scorer, learn_quotas, list(target))


def write_jsonl(path: Path, examples: list[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(ex.to_record(), ensure_ascii=False) + "\n" for ex in examples))


def write_exports(tmp: Path, final: Path, counts: dict[str, int]) -> None:
    """exports/<format>.yaml for the SFT trainers, with shares of examples; LLaMA-Factory also gets
    sources/dataset_info.json. Paths name the files where they will be (`final`) once the stage is done."""
    shares = {s: n / sum(counts.values()) for s, n in counts.items()}
    files = {s: f"{safe_file_name(s)}.jsonl" for s in counts}
    sources = final / "sources"
    by_path = ExportInput(
        shares, {s: str(sources / f) for s, f in files.items()}, examples_budget=sum(counts.values()), unit="examples"
    )
    by_name = ExportInput(shares, {s: s for s in counts}, unit="examples", dataset_dir=str(sources))
    export_mixture(by_name, "llama-factory", tmp / "exports" / "llama-factory.yaml")
    write_json_atomic(tmp / "sources" / "dataset_info.json", llama_factory_dataset_info(files))
    for fmt in ("trl", "axolotl"):
        export_mixture(by_path, fmt, tmp / "exports" / f"{fmt}.yaml")


def write_set(
    tmp: Path, final: Path, sources: list[str], train: list[Example], dev: list[Example], manifest: dict
) -> dict:
    """train.jsonl, dev.jsonl, sources/<source>.jsonl, manifest.json and the exports of one SFT set in `tmp` (to
    be renamed to `final`); {source: training examples}."""
    write_jsonl(tmp / "train.jsonl", train)
    write_jsonl(tmp / "dev.jsonl", dev)
    (tmp / "sources").mkdir(parents=True, exist_ok=True)
    counts = {s: sum(ex.source == s for ex in train) for s in sources}
    for source in sources:
        write_jsonl(tmp / "sources" / f"{safe_file_name(source)}.jsonl", [ex for ex in train if ex.source == source])
    full = {
        "format": SET_FORMAT,
        "sources": sources,
        "train": counts,
        "dev": dict(Counter(ex.source for ex in dev)),
        **manifest,
    }
    write_json_atomic(tmp / "manifest.json", full)
    positive = {s: n for s, n in counts.items() if n > 0}
    if positive:
        write_exports(tmp, final.resolve(), positive)
    return counts


def check_set_format(folder: Path, reader: str) -> None:
    """An SFT set written before the fixed dev set (its dev split drawn from the selection) is refused."""
    manifest = folder / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("format") != SET_FORMAT:
        raise DoremiError(
            f"{folder} was made by an older stage=sft_mix whose dev split came from the selected set itself; "
            f"stage={reader} scores on the fixed dev set: rerun stage=sft_mix with overwrite=true"
        )
