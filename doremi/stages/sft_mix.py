"""stage=sft_mix: a LIMA-style SFT set from pools of instruction data and a mixture.

pools -> quality filters (funnel per source and reason) -> exact and near dedup across
sources -> quotas per source (exact budget, largest remainder) -> temperature sampling
across sub-categories -> train.jsonl, dev.jsonl, sources/<source>.jsonl, manifest.json,
and exports for LLaMA-Factory, TRL and Axolotl.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from doremi import settings
from doremi.alloc import whole_shares
from doremi.data.tokenizer import load_saved
from doremi.errors import DoremiError
from doremi.export import ExportInput, export_mixture
from doremi.export.formats import llama_factory_dataset_info
from doremi.files import safe_file_name, write_json_atomic
from doremi.mixture import closest, load_mixture
from doremi.settings import DroSettings, SftSettings, TrainerSettings
from doremi.sft.choose import select
from doremi.sft.dedup import deduplicate
from doremi.sft.demo import demo_pool
from doremi.sft.examples import Example, read_pools
from doremi.sft.filters import apply_filters
from doremi.sft.learn import learn_source_weights
from doremi.stages.common import commit, load_checkpoint, load_prepared, number, say, stage_dir, start


def source_weights(cfg: DictConfig, sources: list[str]) -> dict[str, float]:
    """Weights over sources: explicit counts, a mixture over sources, pretraining weights mapped to sources, or uniform."""
    sft = cfg.sft
    if sft.counts:
        unknown = [s for s in sft.counts if s not in sources]
        if unknown:
            raise DoremiError(
                f"sft.counts names {unknown[0]!r}, not a source of the pools{closest(unknown[0], sources)}"
            )
        return {s: float(sft.counts.get(s, 0)) for s in sources}
    if sft.mixture is None:
        return {s: 1.0 / len(sources) for s in sources}
    if sft.domain_to_source:
        weights = load_mixture(str(sft.mixture))
        mapped: dict[str, float] = defaultdict(float)
        for domain, source in sft.domain_to_source.items():
            if domain not in weights:
                raise DoremiError(
                    f"sft.domain_to_source: {domain!r} is not a domain of {sft.mixture}{closest(domain, list(weights))}"
                )
            if source not in sources:
                raise DoremiError(
                    f"sft.domain_to_source: {source!r} is not a source of the pools{closest(source, sources)}"
                )
            mapped[source] += weights[domain]
        return {s: mapped.get(s, 0.0) for s in sources}
    return load_mixture(str(sft.mixture), domains=sources, normalize=True)


def base_model(cfg: DictConfig, data) -> tuple[dict, Path]:
    """The saved model both fine-tunings of learned quotas start from, and its path."""
    spec = str(cfg.sft.learn.base)
    path = stage_dir(cfg, spec) / "model.pt" if spec in ("reference", "final") else Path(spec)
    what = f"stage={spec}" if spec in ("reference", "final") else "a stage that saves a model.pt"
    if not path.exists():
        raise DoremiError(
            f"sft.mixture=learned fine-tunes sft.learn.base={spec}, but {path} is not there: run {what} first "
            "(same run_dir=) or point sft.learn.base at a model.pt"
        )
    return load_checkpoint(path, data, what), path


def sft_optim(cfg: DictConfig) -> dict:
    """The fine-tuning optimizer settings (sft.*) in doremi.lit.lm.make_optimizer's form, no warmup."""
    sft = settings.of(cfg, SftSettings)
    return {
        "lr": sft.lr,
        "betas": list(sft.betas),
        "weight_decay": sft.weight_decay,
        "warmup_steps": 0,
        "min_lr_ratio": sft.min_lr_ratio,
        "fused": OmegaConf.select(cfg, "optim.fused", default="auto"),
    }


def split_dev(
    chosen: dict[str, list[Example]], leftovers: dict[str, list[Example]], dev_size: int
) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """A dev set split like the quotas, from examples not chosen where there are any, else from the chosen."""
    sizes = {s: len(v) for s, v in chosen.items() if v}
    want = whole_shares(sizes, min(dev_size, sum(sizes.values()) // 2)) if sizes else {}
    dev, train = {}, dict(chosen)
    for source, n in want.items():
        spare = leftovers.get(source, [])
        from_spare = spare[:n]
        from_train = train[source][: n - len(from_spare)]
        dev[source] = from_spare + from_train
        train[source] = train[source][len(from_train) :]
    return train, dev


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


def write_jsonl(path: Path, examples: list[Example]) -> None:
    path.write_text("".join(json.dumps(ex.to_record(), ensure_ascii=False) + "\n" for ex in examples))


def run(cfg: DictConfig) -> None:
    sft = cfg.sft
    learned = sft.mixture == "learned"
    published = Path(cfg.mixtures_dir) / f"{cfg.name}-sft.json"
    out = start(cfg, "sft_mix", publish={"learned/mixture.json": published} if learned else None)
    if out is None:
        return
    if learned:  # fail before the long work if the base model is missing
        if sft.counts:
            raise DoremiError("sft.mixture=learned and sft.counts both set: keep one of them")
        data = load_prepared(cfg)
        base, base_path = base_model(cfg, data)
    pool = read_pools(sft) if sft.pools or sft.paths or sft.dataset else demo_pool()
    if not pool:
        raise DoremiError("sft_mix: the pools hold no examples; check sft.pools / sft.paths")
    for ex in pool:
        if not ex.source.strip():
            raise DoremiError(f"sft_mix: an example has an empty source name ({ex.prompt[:40]!r}); name every source")
    sources = sorted({ex.source for ex in pool})
    pooled = Counter(ex.source for ex in pool)
    say(
        f"[sft_mix] {len(pool):,} examples from {len(sources)} sources: "
        + ", ".join(f"{s} {pooled[s]}" for s in sources)
    )

    kept, filtered = apply_filters(pool, sft.filters)
    # dedup keeps the first of a group: higher score first, then a stable id
    kept.sort(key=lambda ex: (-(ex.score if ex.score is not None else 0.0), ex.id))
    kept, duplicates = deduplicate(kept, float(sft.dedup.threshold), int(sft.dedup.num_perm), bool(sft.dedup.near))
    if not kept:
        raise DoremiError(
            f"sft_mix: all {len(pool)} examples were removed by sft.filters and dedup ({dict(filtered)}); "
            "loosen sft.filters (e.g. sft.filters.min_chars) or add pools"
        )
    by_source: dict[str, list[Example]] = defaultdict(list)
    for ex in kept:
        by_source[ex.source].append(ex)

    if learned:
        weights = learn_source_weights(
            base,
            base_path,
            load_saved(data.dir, data.tokenizer["kind"]),
            by_source,
            sources,
            out.tmp / "learned",
            steps=int(number(cfg, "sft.learn.steps", 1, math.inf)),
            batch_size=int(number(cfg, "sft.learn.batch_size", 1, math.inf)),
            optim=sft_optim(cfg),
            dro=settings.of(cfg, DroSettings),
            run=settings.of(cfg, TrainerSettings),
            seed=int(cfg.seed),
        )
    else:
        weights = source_weights(cfg, sources)
    quota = {s: int(n) for s, n in weights.items()} if sft.counts else whole_shares(weights, int(sft.budget))
    chosen, selection = select(by_source, quota, float(sft.temperature), int(sft.seed), bool(sft.upsample))
    chosen_ids = {id(ex) for v in chosen.values() for ex in v}
    leftovers = {s: [ex for ex in v if id(ex) not in chosen_ids] for s, v in by_source.items()}
    train, dev = split_dev(chosen, leftovers, int(sft.dev_size))
    for source, info in selection.items():
        if info["chosen"] < info["quota"]:
            say(
                f"[sft_mix] source {source!r} has {info['available']} examples after filters and dedup for a quota "
                f"of {info['quota']}: took {info['chosen']} (sft.upsample=true repeats examples to fill it)"
            )

    train_all = [ex for s in sources for ex in train.get(s, [])]
    dev_all = [ex for s in sources for ex in dev.get(s, [])]
    write_jsonl(out.tmp / "train.jsonl", train_all)
    write_jsonl(out.tmp / "dev.jsonl", dev_all)
    (out.tmp / "sources").mkdir()
    for source in sources:
        write_jsonl(out.tmp / "sources" / f"{safe_file_name(source)}.jsonl", train.get(source, []))
    counts = {s: len(train.get(s, [])) for s in sources}
    manifest = {
        "format": "doremi-sft-mix/v1",
        "sources": sources,
        "weights": weights,
        "quotas": quota,
        "train": counts,
        "dev": {s: len(dev.get(s, [])) for s in sources},
        "categories": {s: dict(Counter(ex.category or "" for ex in train.get(s, []))) for s in sources},
        "funnel": {
            s: {
                "pool": pooled[s],
                "filtered": filtered.get(s, {}),
                "duplicates": duplicates.get(s, {}),
                "after_filters_and_dedup": len(by_source.get(s, [])),
                "chosen": selection[s]["chosen"],
                "train": counts[s],
            }
            for s in sources
        },
        "config": OmegaConf.to_container(sft, resolve=True),
    }
    if learned:
        manifest["learned"] = "learned/mixture.json"  # with learned/trajectory.jsonl
    write_json_atomic(out.tmp / "manifest.json", manifest)
    positive = {s: n for s, n in counts.items() if n > 0}
    write_exports(out.tmp, out.final.resolve(), positive)
    if not train_all:
        raise DoremiError("sft_mix: no training example was chosen (every quota is 0): check sft.mixture / sft.counts")
    commit(out)  # publishes mixtures/<name>-sft.json first when the quotas were learned
    if learned:
        say(f"[sft_mix] wrote the learned source weights to {published} (sft.mixture={published} reuses them)")
    say(
        f"[sft_mix] {len(train_all)} training and {len(dev_all)} dev examples: "
        + ", ".join(f"{s} {n}" for s, n in counts.items())
        + f" -> {out.final}"
    )
