"""The SFT settings sections of the schema (doremi.config.schema): stage=sft_mix's quotas, filters, dedup, learned
quotas, and stage=sft's fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.config.fields import Number, betas_rule, s, section
from doremi.config.methods import Design


@dataclass
class SftFilters:
    """LIMA's, from its Stack Exchange recipe."""

    min_chars: int = s(1200, "shortest answer kept, in characters", ge=0)
    max_chars: int = s(4096, "longest answer kept, in characters", ge=0)
    first_person: bool = s(True, "drop answers written in the first person")
    other_answers: bool = s(True, "drop answers that refer to other answers")
    strip_links: bool = s(True, "links -> text, images and bare URLs removed; code blocks and lists kept")
    min_score: Optional[Number] = s(None, "drop examples scored below this (sft.score_field)")


@dataclass
class SftDedup:
    near: bool = s(True, "MinHash LSH (datasketch) besides exact normalized-text hashes")
    threshold: Number = s(0.8, "Jaccard similarity of word 3-grams counted as a near duplicate", gt=0, le=1)
    num_perm: int = s(128, "MinHash permutations", ge=1)


@dataclass
class SftLearn:
    """sft.mixture=learned: a reference fine-tuned on uniform quotas, a proxy with Group DRO."""

    base: str = s("reference", "the model both start from: reference (the run's small LM) | final | a model.pt")
    steps: int = s(200, "optimizer steps of each (dro.* sets eta, smoothing and the variants)", ge=1)
    batch_size: int = s(16, "chats per step, every source in every batch", ge=1)


@dataclass
class SftLora:
    """Parameter-efficient fine-tuning with `peft` on a Hugging Face model (model=hf); the built-in GPT fine-tunes
    in full."""

    r: int = s(0, "LoRA's rank; 0: full fine-tuning (every weight trained)", ge=0)
    alpha: Number = s(16, "LoRA's scale alpha (the update is scaled by alpha / r)", gt=0)
    dropout: Number = s(0.05, "dropout on LoRA's path", ge=0, lt=1)
    target_modules: Optional[List[str]] = s(None, "the modules LoRA adapts; null: peft's default for the architecture")  # fmt: skip


@dataclass
class SftCompare(Design):
    """stage=sft_compare: every SFT set method of `methods` selects sft.budget examples from the same pools; each
    set fine-tunes the same base with the same seeds and is scored on the same dev set."""

    methods: List[str] = s(["all"], "SFT set methods judged side by side (all: every registered one); random and stratified always run")  # fmt: skip
    seeds: int = s(3, "fine-tunes of every set with design=single (seeds `seed`, `seed`+1, ...); the budget the screen design keeps within; with resolution, the pilot", ge=1)  # fmt: skip
    resolution: Optional[Number] = s(None, "nats/token: the pilot (sft.compare.seeds, 3 or more) measures the noise, then each set in contention gets the seeds that bring its interval against random to this half-width (Stein's two stages, one stage of judging; null: sft.compare.design)", gt=0)  # fmt: skip
    max_seeds: int = s(16, "sft.compare.resolution: the most seeds a set gets", ge=1)
    target: Any = s("average", "what the recommendation reads: average (over sources) | worst | a list of sources")
    trial: Optional[int] = s(None, "train only this trial (a set x seed) into <run_dir>/trials/; -1 lists them (Hydra's launchers spread them)", ge=-1)  # fmt: skip
    seed_size: int = s(64, "quality: the seed set's size when sft.seed_set is null (examples that pass LIMA's filters)", ge=2)  # fmt: skip


@dataclass
class SftTarget:
    """Your own target examples: stage=sft_compare judges every set on them (instead of the pools' dev set), and the
    target-aware methods (less, nearest) select toward them."""

    paths: Any = s(None, "[files or globs] of target examples (prompt/response or messages records), never trained on: pool examples with the same chat are dropped and counted")  # fmt: skip


@dataclass
class SftLess:
    """sft.method=less (doremi.sft.methods.less)."""

    dim: Optional[int] = s(None, "the gradient features' dimension, a count sketch of the whole gradient (null: 1,024; LESS: 8,192 of LoRA's)", ge=8)  # fmt: skip


@dataclass
class Sft:
    """stage=sft_mix (a LIMA-style set) and stage=sft (fine-tuning the final model on it)."""

    pools: Any = s(
        None,
        "{source: file or glob} (JSONL / Parquet / ...); empty: sft.paths, sft.dataset or the demo pool",
        open_map=True,
    )
    paths: Any = s([], "files whose records name their source in sft.source_field")
    dataset: Optional[str] = s(None, "a hub dataset whose records name their source (needs internet)")
    split: str = s("train", "its split")
    source_field: str = s("source", "field naming the example's source")
    category_field: Optional[str] = s("category", "optional sub-category (e.g. the Stack Exchange site) for diversity sampling")  # fmt: skip
    score_field: Optional[str] = s("score", "optional score for sft.filters.min_score")
    mixture: Optional[str] = s(None, "weights over sources (.json); with domain_to_source, pretraining weights mapped onto sources; learned: Group DRO over the sources (sft.learn)")  # fmt: skip
    domain_to_source: Any = s(None, "{pretraining domain: source}", open_map=True)
    counts: Any = s(None, "explicit {source: examples} instead of a mixture", open_map=True)
    budget: int = s(1000, "training examples (LIMA: 1,000)", ge=1)
    dev_size: int = s(50, "dev examples (LIMA: 50), held out of the pools by hash before any filter, split evenly over sources", ge=0)  # fmt: skip
    min_dev_examples: int = s(8, "every source holds out at least this many dev examples (its smallest hashes; at most a third of its examples)", ge=1)  # fmt: skip
    method: str = s("lima", "stage=sft_mix's SFT set method (python -m doremi --help lists them)")
    base: str = s("final", "the model stage=sft and stage=sft_compare fine-tune: final | reference | a model.pt")
    seed_set: Optional[str] = s(None, "quality: a file of good examples (JSONL chats or prompt/response) its classifier learns from; null: sft.compare.seed_size examples that pass LIMA's filters")  # fmt: skip
    temperature: Number = s(2.0, "across sub-categories: 1 follows the pool, larger spreads evenly", gt=0)
    upsample: bool = s(False, "repeat examples of a source too small for its quota")
    seed: int = s("${seed}", "the sampling seed", ge=0, lt=2**32)
    filters: SftFilters = section(SftFilters, "LIMA's filters")
    dedup: SftDedup = section(SftDedup, "exact and near-duplicate removal")
    learn: SftLearn = section(SftLearn, "sft.mixture=learned")
    lora: SftLora = section(SftLora, "LoRA (peft) instead of full fine-tuning")
    compare: SftCompare = section(SftCompare, "stage=sft_compare")
    target: SftTarget = section(SftTarget, "your own target examples (sft.target.paths)")
    less: SftLess = section(SftLess, "sft.method=less")
    epochs: int = s(15, "LIMA: 15", ge=1)
    batch_size: int = s(16, "chats per step", ge=1)
    lr: Number = s(3.0e-4, "LIMA: 1e-5 for 7B-65B models; small models take larger steps", gt=0)
    min_lr_ratio: Number = s(0.1, "linear decay to lr x this (LIMA: 1e-5 -> 1e-6), no warmup", ge=0, le=1)
    betas: List[float] = s([0.9, 0.95], "AdamW's betas")
    weight_decay: Number = s(0.1, "AdamW's weight decay", ge=0)
    dropout_top: Number = s(0.2, "residual dropout rising linearly from 0 (bottom layer) to this (LIMA: 0.3, 0.2 for smaller models)", ge=0, lt=1)  # fmt: skip
    samples: int = s(4, "dev prompts answered in the report", ge=0)
    max_new_tokens: int = s(120, "longest answer generated for the report", ge=1)

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        betas_rule(cfg, "sft.betas")
        if cfg.sft.mixture == "learned" and cfg.sft.counts:
            raise DoremiError("sft.mixture=learned and sft.counts both set: keep one of them")
        target = cfg.sft.compare.target
        if cfg.sft.compare.resolution is not None and int(cfg.sft.compare.seeds) < 3:
            raise DoremiError(
                f"sft.compare.resolution with sft.compare.seeds={cfg.sft.compare.seeds}: a pilot of fewer than 3 seeds "
                "leaves at most 1 degree of freedom, whose t quantile asks for hundreds of seeds; set sft.compare.seeds=5"
            )
        if cfg.sft.compare.resolution is not None and target == "worst":
            raise DoremiError(
                "sft.compare.resolution with sft.compare.target=worst: the worst source's interval is the union of the "
                "sources' (no single variance for Stein's plan); use average or a list of sources"
            )
        if isinstance(target, str) and target not in ("average", "worst"):
            raise DoremiError(f"sft.compare.target={target}: expected average, worst or a list of sources like [a,b]")
        if cfg.sft.filters.min_chars > cfg.sft.filters.max_chars:
            raise DoremiError(
                f"sft.filters.min_chars={cfg.sft.filters.min_chars} is above sft.filters.max_chars="
                f"{cfg.sft.filters.max_chars}: no answer could be kept; lower one or raise the other"
            )
