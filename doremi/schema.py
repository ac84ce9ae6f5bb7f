"""Every setting: its type, default, range or choices, and one line of doc. The single source.

The dataclasses below are registered with Hydra's ConfigStore as `doremi_schema`, the base of
conf/config.yaml, so OmegaConf itself refuses a wrong type (`trainer.batch_size=2.5`,
`seed=abc`, `overwrite=maybe`) and an unknown key while the config is composed. Ranges and
choices live in each field's metadata (`ge`, `gt`, `le`, `lt`, `choices`) and cross-key rules
in a section's `validate(cfg)`; doremi.settings checks both before any stage starts.
`python -m doremi --help` prints the fields with their defaults and docs. YAML files keep only
what presets change (conf/model/*.yaml, conf/tokenizer/*.yaml).

A field typed `Number` keeps what was given (1 stays 1, 0.5 stays 0.5), so that fingerprints
of finished stages are the ones earlier versions computed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from omegaconf import MISSING, DictConfig

from doremi.errors import DoremiError

Number = Union[int, float]


def s(default: Any = MISSING, doc: str = "", *, choices: tuple[str, ...] | None = None, **bounds: float):
    """A setting: its default, a one-line doc, its bounds (ge, gt, le, lt) or its choices."""
    meta = {"doc": doc, "bounds": bounds, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, doc: str = ""):
    """A nested section with a doc line for --help."""
    return field(default_factory=cls, metadata={"doc": doc, "section": True})


@dataclass
class Dro:
    """Group DRO (DESIGN.md): the update's step size and smoothing, its variants, collapse warnings."""

    eta: Number = s(1.0, "step size of the exponentiated-gradient update (paper: 1)", gt=0)
    smoothing: Number = s(1.0e-3, "c: mix of uniform weights kept in every update (paper: 1e-3)", ge=0, lt=1)
    init: str = s("uniform", "alpha_0: uniform | natural | a mixture .json file (weights > 0)")
    normalize: str = s("domain", "lambda per domain: domain (paper: / the domain's tokens) | tokens (original code: / all tokens)", choices=("domain", "tokens"))  # fmt: skip
    clip: str = s("token", "token (paper: clip each token's excess at 0) | domain (clip the domain's mean)", choices=("token", "domain"))  # fmt: skip
    sampling: str = s("reweight", "reweight (paper: uniform batches, loss weighted by alpha) | resample (batches drawn with alpha, plain loss)", choices=("reweight", "resample"))  # fmt: skip
    burn_in: Number = s(0.0, "average alpha_t after this fraction of the DRO steps (paper: 0, every step is averaged)", ge=0, lt=1)  # fmt: skip
    warm_start: int = s(0, "optimizer steps the proxy trains on alpha_0 before Group DRO starts (paper: 0)", ge=0)
    collapse_weight: Number = s(0.95, "warn when one weight exceeds this", gt=0, le=1)
    collapse_entropy: Number = s(0.2, "warn when the weights' entropy stays below this fraction of log(k) ...", ge=0, le=1)  # fmt: skip
    collapse_steps: int = s(50, "... for this many steps", ge=1)


@dataclass
class Learn:
    """stage=learn, for every method."""

    target: Any = s("average", "what the target-optimizing methods minimize: average | worst | a list of domains")
    feasible: bool = s(False, "true: project the learned weights through plan.* (max_epochs at the final run's budget, pin, min/max)")  # fmt: skip
    temperature: Number = s(3.3, "method=temperature: natural shares to the power 1/temperature (multilingual pretraining: ~3.3)", gt=0)  # fmt: skip

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        target = cfg.learn.target
        if not isinstance(target, str) and not (
            hasattr(target, "__len__") and len(target) and all(isinstance(d, str) for d in target)
        ):
            raise DoremiError(f"learn.target={target}: expected average, worst or a list of domains like [wiki,code]")


@dataclass
class Swarm:
    """method=regmix | mixing_law: small runs on sampled mixtures (stage=swarm launches them)."""

    runs: int = s(24, "mixtures drawn (RegMix: 512); growing it trains only the new runs", ge=1)
    steps: int = s(60, "optimizer steps per run", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)
    model: Dict[str, Any] = s({"n_layer": 1, "n_head": 2, "d_model": 64}, "keys of model= changed for the swarm (a smaller model)")  # fmt: skip
    prior: str = s("natural", "the Dirichlet's centre: natural | uniform | a mixture .json")
    concentrations: List[float] = s([0.3, 1.0, 3.0, 10.0], "spreads taken in turn (small: near one-hot, large: near the prior)")  # fmt: skip
    seed: int = s("${seed}", "the draws' seed", ge=0, lt=2**32)
    threads: int = s(1, "torch threads per run: the same in every launch, so the numbers match", ge=1)
    train: bool = s(True, "stage=learn trains the runs still missing (false: fit on what is there)")
    index: Any = s(None, "stage=swarm: the runs to train (null: all), e.g. swarm.index=0,1,2 with -m")
    folds: int = s(5, "k-fold over runs for the fit's held-out rank correlation and error", ge=2)
    min_spearman: Number = s(0.5, "warn when the fit ranks held-out runs worse than this", ge=-1, le=1)
    check_scale: Optional[str] = s(None, "a model preset (e.g. tiny): train the optimum, stratified and check_runs swarm mixtures")  # fmt: skip
    check_runs: int = s(3, "  again at that size and report the rank correlation between the sizes (RegMix's check)", ge=0)  # fmt: skip
    check_steps: int = s("${final.max_steps}", "optimizer steps of the scale check's runs", ge=1)

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        if any(c <= 0 for c in cfg.swarm.concentrations) or not len(cfg.swarm.concentrations):
            raise DoremiError(f"swarm.concentrations={list(cfg.swarm.concentrations)}: expected positive numbers")


@dataclass
class Online:
    """method=odm: weights that adapt inside the final run (doremi.online)."""

    every: int = s(10, "optimizer steps between updates of the weights", ge=1)
    smoothing: Number = s(0.9, "alpha of the smoothed importance-weighted reward (ODM)", ge=0, lt=1)
    replay: Optional[str] = s(None, "a schedule.jsonl to follow instead of updating (draws the same batches)")


@dataclass
class Compare:
    """stage=compare: every method learned and trained at the final settings, same seeds."""

    methods: List[str] = s(["doremi", "stratified", "natural", "unimax", "temperature"], "methods (or mixture .json files); stratified and natural always run")  # fmt: skip


@dataclass
class Warn:
    """When to say that the learned weights should not be trusted (see README)."""

    reference_gain: Number = s(0.05, "the reference's held-out loss on a domain is within this fraction of its unigram entropy", ge=0, le=1)  # fmt: skip
    transient_share: Number = s(0.3, "the first 10% of averaged steps make more than this share of the weights' distance from uniform", ge=0, le=1)  # fmt: skip
    seeds_l1: Number = s(0.1, "proxy.seeds runs whose weights differ by more than this L1 distance", ge=0, le=2)


@dataclass
class Trainer:
    """How every training stage runs (shared unless a stage overrides it)."""

    max_steps: int = s(300, "optimizer steps per stage (reference.max_steps etc. override)", ge=1)
    batch_size: int = s(16, "global batch in sequences", ge=1)
    accelerator: str = s("auto", "cpu | gpu | auto")
    devices: Any = s(1, "processes / GPUs per node (Lightning): a number, a list of ids or auto")
    num_nodes: int = s(1, "machines (torchrun / SLURM set the ranks)", ge=1)
    strategy: str = s("auto", "auto | ddp | fsdp (fully_shard per layer, GPUs or CPUs) | another Lightning strategy")
    precision: str = s("32-true", "32-true | bf16-mixed (GPU: bf16 autocast)")
    compile: bool = s(False, "torch.compile the models (GPU; attention is PyTorch's fused SDPA either way)")
    grad_clip: Optional[Number] = s(1.0, "gradient-norm clipping (null: none)", ge=0)
    accumulate_grad_batches: int = s(1, "micro-batches per optimizer step (batch_size is per optimizer step)", ge=1)
    progress_lines: int = s(10, "progress lines printed per stage", ge=0)
    log_every: int = s(10, "steps between rows of the training log", ge=1)
    hf_checkpoints: bool = s(True, "save every trained model as a Hugging Face checkpoint too (<stage>/.../hf/)")
    logger: str = s("csv", "csv (logs/metrics.csv) | tensorboard | wandb | mlflow (the last three: pip install \"doremi-mix[loggers]\")", choices=("csv", "tensorboard", "wandb", "mlflow"))  # fmt: skip

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        devices = cfg.trainer.devices
        whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
        if not (
            devices == "auto"
            or (whole(devices) and devices >= 1)
            or (not isinstance(devices, str) and hasattr(devices, "__len__") and len(devices) and all(whole(d) for d in devices))
        ):  # fmt: skip
            raise DoremiError(
                f"trainer.devices={devices}: expected a number of devices (1 or more), a list of ids or auto"
            )


@dataclass
class Checkpoint:
    every: int = s(100, "optimizer steps between checkpoints (0: none); resume=auto continues from the newest", ge=0)
    keep: int = s(2, "newest checkpoints kept while a stage runs (removed once it is done)", ge=1)


@dataclass
class Optim:
    """AdamW, linear warmup, cosine decay."""

    lr: Number = s(3.0e-3, "peak learning rate", gt=0)
    betas: List[float] = s([0.9, 0.95], "AdamW's betas: two numbers in [0, 1)")
    weight_decay: Number = s(0.1, "AdamW's decoupled weight decay", ge=0)
    warmup_steps: int = s(20, "linear warmup steps", ge=0)
    min_lr_ratio: Number = s(0.1, "the cosine ends at lr x this", ge=0, le=1)
    fused: Any = s("auto", "fused AdamW kernel: auto (on GPU) | true | false")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        betas_rule(cfg, "optim.betas")
        if cfg.optim.fused not in ("auto", True, False):
            raise DoremiError(f"optim.fused={cfg.optim.fused}: expected auto, true or false")

    def as_dict(self) -> dict:
        return {k: (list(v) if k == "betas" else v) for k, v in vars(self).items()}


def betas_rule(cfg: DictConfig, key: str) -> None:
    from omegaconf import OmegaConf

    betas = OmegaConf.select(cfg, key)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise DoremiError(f"{key}={list(betas)}: expected two numbers in [0, 1), like {key}=[0.9,0.95]")


@dataclass
class Prepare:
    """Many machines: run prepare.shard=0..n-1 with prepare.num_shards=n, then once without prepare.shard to merge."""

    num_shards: int = s(1, "shards prepared on separate machines (identical to one machine once merged)", ge=1)
    shard: Optional[int] = s(None, "the shard this machine prepares (null: all, or the merge)", ge=0)
    reuse: Optional[str] = s(None, "another run's prepare/ folder to use instead of preparing here (was prepare.from)")


@dataclass
class Reference:
    mixture: str = s("uniform", "uniform | natural | a mixture .json (a weight 0 leaves a domain out)")
    max_steps: int = s("${trainer.max_steps}", "optimizer steps", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)


@dataclass
class Proxy:
    """The proxy's minibatches are uniform and contain every domain."""

    max_steps: int = s("${trainer.max_steps}", "paper: as many steps as the reference", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)
    reference_cache: bool = s(False, "true: reference per-token losses computed once (float16 files), no reference forward per step")  # fmt: skip
    seeds: Any = s(1, "proxy runs against the same reference: a count from `seed`, or a list; their mean is published")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        seeds_of(cfg, "proxy.seeds")


def seeds_of(cfg: DictConfig, key: str) -> list[int]:
    """`key` (final.seeds, proxy.seeds): a count (seeds `seed`, `seed`+1, ...) or a list of distinct seeds."""
    from omegaconf import ListConfig, OmegaConf

    value = OmegaConf.select(cfg, key)
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if isinstance(value, (ListConfig, list)):
        seeds = [int(v) for v in value] if all(whole(v) and v >= 0 for v in value) else []
    elif whole(value) and value >= 1:
        seeds = [int(cfg.seed) + i for i in range(value)]
    else:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise DoremiError(f"{key}={value}: give a number of seeds (1 or more) or a list of distinct seeds like [0,1,2]")
    return seeds


@dataclass
class Final:
    mixture: Optional[str] = s(None, "the mixture under test: null = the learned one | any mixture .json")
    baselines: List[str] = s(["uniform", "natural"], "mixtures trained beside it, same budget and seeds")
    seeds: Any = s(3, "seeds per mixture (the same for every mixture): a count from `seed`, or a list [0,1,2]")
    max_steps: int = s("${trainer.max_steps}", "optimizer steps per trained mixture", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)
    eval_every: int = s(50, "steps between held-out evaluations", ge=1)
    eval_chunks: Optional[int] = s(64, "held-out sequences per domain, evenly spread over its held-out split (null: all of them)", ge=1)  # fmt: skip

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        seeds_of(cfg, "final.seeds")


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
class Sft:
    """stage=sft_mix (a LIMA-style set) and stage=sft (fine-tuning the final model on it)."""

    pools: Any = s(
        None, "{source: file or glob} (JSONL / Parquet / ...); empty: sft.paths, sft.dataset or the demo pool"
    )
    paths: Any = s([], "files whose records name their source in sft.source_field")
    dataset: Optional[str] = s(None, "a hub dataset whose records name their source (needs internet)")
    split: str = s("train", "its split")
    source_field: str = s("source", "field naming the example's source")
    category_field: Optional[str] = s("category", "optional sub-category (e.g. the Stack Exchange site) for diversity sampling")  # fmt: skip
    score_field: Optional[str] = s("score", "optional score for sft.filters.min_score")
    mixture: Optional[str] = s(None, "weights over sources (.json); with domain_to_source, pretraining weights mapped onto sources; learned: Group DRO over the sources (sft.learn)")  # fmt: skip
    domain_to_source: Any = s(None, "{pretraining domain: source}")
    counts: Any = s(None, "explicit {source: examples} instead of a mixture")
    budget: int = s(1000, "training examples (LIMA: 1,000)", ge=1)
    dev_size: int = s(50, "dev examples (LIMA: 50), split like the quotas", ge=0)
    temperature: Number = s(2.0, "across sub-categories: 1 follows the pool, larger spreads evenly", gt=0)
    upsample: bool = s(False, "repeat examples of a source too small for its quota")
    seed: int = s("${seed}", "the sampling seed", ge=0, lt=2**32)
    filters: SftFilters = section(SftFilters, "LIMA's filters")
    dedup: SftDedup = section(SftDedup, "exact and near-duplicate removal")
    learn: SftLearn = section(SftLearn, "sft.mixture=learned")
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
        if cfg.sft.filters.min_chars > cfg.sft.filters.max_chars:
            raise DoremiError(
                f"sft.filters.min_chars={cfg.sft.filters.min_chars} is above sft.filters.max_chars="
                f"{cfg.sft.filters.max_chars}: no answer could be kept; lower one or raise the other"
            )


@dataclass
class Eval:
    """stage=eval: lm-evaluation-harness on every final model (pip install "doremi-mix[eval]")."""

    tasks: List[str] = s([], "lm-eval task names, e.g. [arc_easy, piqa] (hub datasets: online), or tasks of include_path")  # fmt: skip
    include_path: Optional[str] = s(None, "a folder of lm-eval task YAML files (tasks on local data)")
    num_fewshot: Optional[int] = s(
        1, "the DoReMi paper's headline is one-shot accuracy; null = each task's default", ge=0
    )
    batch_size: int = s(8, "examples per forward pass", ge=1)
    limit: Optional[Number] = s(None, "at most this many examples per task (a quick look; null = all)", gt=0)
    device: str = s("cpu", "cpu | cuda")


@dataclass
class Plan:
    """stage=plan: the learned mixture made feasible for the real run (see README)."""

    mixture: Optional[str] = s(None, "the mixture to plan from (default: mixtures/<name>.json)")
    token_budget: Optional[Number] = s(None, "tokens the real run trains on (required)", ge=1)
    available: Optional[str] = s(None, "tokens available per domain: a .json {domain: tokens}; null = this run's prepared train split")  # fmt: skip
    max_epochs: Optional[Number] = s(4, "at most this many passes over any domain (Muennighoff et al. 2023); null = no limit", gt=0)  # fmt: skip
    pin: Any = s(None, "{domain: weight} held fixed")
    min_weight: Number = s(0.0, "every weight at least this", ge=0, le=1)
    max_weight: Number = s(1.0, "every weight at most this", gt=0, le=1)
    tokenizer: Optional[str] = s(None, "the real run's tokenizer (tokenizer.json or hub name): weights converted to its token shares")  # fmt: skip
    target_params: Optional[Number] = s(None, "the real run's model parameters: the search's cost is stated as a share of its FLOPs", ge=1)  # fmt: skip
    out: Optional[str] = s(None, "the planned mixture file (default: mixtures/<name>-plan.json)")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        if cfg.stage == "plan" and cfg.plan.token_budget is None:
            raise DoremiError("stage=plan needs plan.token_budget=<tokens the real run trains on>")


@dataclass
class Export:
    """stage=export mixture=<file> format=<name> out=<path>."""

    paths: Any = s(None, "{domain: the consumer's path, prefix or dataset name}; default: the domain name")
    manifest: Optional[str] = s(None, "prepare/manifest.json for document shares (default: ${run_dir}/prepare/manifest.json)")  # fmt: skip
    token_budget: Optional[int] = s(None, "planned training tokens, for OLMo-core repetition ratios", ge=1)
    examples_budget: int = s(1000, "total examples for formats that take exact counts (Axolotl)", ge=1)
    schedule: Optional[str] = s(None, "an online run's schedule.jsonl: format=nanotron writes one data stage per entry")


@dataclass
class Data:
    """Where documents come from. With none of domains / paths / dataset set, the embedded demo corpus
    (Python's standard library) is used."""

    domains: Any = s(None, "{domain name: file, glob or list}: one source per domain")
    paths: Any = s(None, "[files or globs] whose records name their domain in domain_field")
    dataset: Optional[str] = s(None, "a Hugging Face hub dataset name (needs internet), e.g. a Pile copy")
    dataset_config: Any = s(None, "its config name")
    split: str = s("train", "its split")
    text_field: str = s("text", "field holding the document text (dotted paths allowed)")
    domain_field: str = s("domain", "field holding the domain name (dotted, e.g. meta.pile_set_name)")
    val_fraction: Number = s(0.1, "share of documents held out, chosen by a hash of their text", gt=0, lt=1)
    demo_max_chars: int = s(400000, "characters per domain of the demo corpus", ge=1)
    domain_map: Any = s(None, "{source domain: domain} renames or merges domains; a source mapped to null is dropped")
    max_documents: Optional[int] = s(None, "cap per domain: keep this many documents (those with the smallest text hashes)", ge=1)  # fmt: skip
    max_tokens: Optional[int] = s(None, "cap per domain: keep documents (smallest hashes first) up to this many tokens", ge=1)  # fmt: skip
    invalid_utf8: str = s("error", "error (names file and byte offset) | replace (with U+FFFD, counted)", choices=("error", "replace"))  # fmt: skip

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        for key in ("domains", "domain_map"):
            value = cfg.data[key]
            if value is not None and not isinstance(value, (dict, DictConfig)):
                raise DoremiError(f"data.{key}={value}: expected a map like data.{key}={{name: value}} or null")


@dataclass
class Tokenizer:
    """tokenizer=byte (the default) | bpe | pretrained."""

    kind: str = s("byte", "byte (UTF-8 bytes + end-of-document: 257 ids) | bpe (trained with `tokenizers`) | pretrained", choices=("byte", "bpe", "pretrained"))  # fmt: skip
    vocab_size: Optional[int] = s(257, "ids (bpe: the vocabulary trained; pretrained: taken from the tokenizer)", ge=257)  # fmt: skip
    path: Optional[str] = s(None, "tokenizer=pretrained: a tokenizer.json file or a hub tokenizer name")
    train_chars: int = s(2_000_000, "tokenizer=bpe: characters per domain in the training sample", ge=1)

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        if cfg.tokenizer.kind == "pretrained" and not cfg.tokenizer.path:
            raise DoremiError(
                "tokenizer=pretrained needs tokenizer.path=<a tokenizer.json file or a hub tokenizer name>"
            )


@dataclass
class Model:
    """model=tiny (the default) | small | hf | hf-120m | hf-280m; the vocabulary comes from the prepared data."""

    seq_len: int = s(128, "tokens per sequence (prepare packs chunks of seq_len + 1)", ge=1)
    arch: Optional[str] = s(None, "null or gpt: the built-in GPT | hf: a transformers causal LM", choices=("gpt", "hf"))
    n_layer: Optional[int] = s(2, "the built-in GPT's layers", ge=1)
    n_head: Optional[int] = s(4, "its attention heads", ge=1)
    d_model: Optional[int] = s(128, "its width", ge=1)
    dropout: Optional[Number] = s(0.0, "its dropout", ge=0, lt=1)
    hf_config: Any = s(None, "model=hf: a dict with a model_type, a config.json, or a hub name")
    init_from: Optional[str] = s(None, "model=hf: start from a pretrained checkpoint (a local folder or a hub name)")
    attn_implementation: Optional[str] = s(None, "model=hf: sdpa | flash_attention_2 (where installed) | eager")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        m = cfg.model
        if m.arch == "hf":
            if not m.hf_config and not m.init_from:
                raise DoremiError(
                    "model=hf needs model.hf_config (a dict, a config.json or a hub name) or model.init_from"
                )
            return
        for key in ("n_layer", "n_head", "d_model"):
            if m[key] is None:
                raise DoremiError(f"model.{key} is not set: the built-in GPT needs n_layer, n_head and d_model")
        if m.d_model % m.n_head:
            raise DoremiError(f"model.n_head={m.n_head} does not divide model.d_model={m.d_model}: choose a divisor")


@dataclass
class Config:
    """doremi: learn data-mixture weights and hand them to other trainers."""

    stage: str = s("all", "prepare | learn | final | compare | report | export | plan | ... | all (the stages above)")
    method: str = s("doremi", "how stage=learn (and all) learns the mixture (the methods above)")
    name: str = s("demo", "the mixture's name under mixtures/ and reports/")
    run_dir: str = s("runs/${name}", "ties the stages of one experiment together; each writes ${run_dir}/<stage>/")
    seed: int = s(0, "model init and sampling; the same for every trained mixture", ge=0, lt=2**32)
    overwrite: bool = s(False, "redo a finished stage whose settings changed (else: error naming the change)")
    resume: Optional[str] = s(None, "auto: continue an interrupted stage from its newest checkpoint | a .ckpt path")
    mixtures_dir: str = s("mixtures", "where learned mixtures are copied as <name>.json")
    reports_dir: str = s("reports", "where reports are written as <name>/")
    dro: Dro = section(Dro, "Group DRO")
    learn: Learn = section(Learn, "stage=learn, for every method")
    swarm: Swarm = section(Swarm, "regmix and mixing_law's small runs")
    online: Online = section(Online, "method=odm")
    compare: Compare = section(Compare, "stage=compare")
    warn: Warn = section(Warn, "when the learned weights should not be trusted")
    rounds: int = s(1, "iterated DoReMi: round r+1 trains a new reference on round r's weights", ge=1)
    rounds_tolerance: Number = s(0.0, "stop early when the L1 change of the averaged weights falls below this", ge=0)
    trainer: Trainer = section(Trainer, "every training stage")
    checkpoint: Checkpoint = section(Checkpoint, "checkpoints while a stage trains")
    optim: Optim = section(Optim, "AdamW")
    prepare: Prepare = section(Prepare, "stage=prepare")
    reference: Reference = section(Reference, "stage=reference")
    proxy: Proxy = section(Proxy, "stage=proxy")
    final: Final = section(Final, "stage=final")
    sft: Sft = section(Sft, "stage=sft_mix and stage=sft")
    eval: Eval = section(Eval, "stage=eval")
    plan: Plan = section(Plan, "stage=plan")
    mixture: Optional[str] = s(None, "stage=export: the mixture file to export (default: mixtures/<name>.json)")
    format: Optional[str] = s(None, "stage=export: hf-datasets | megatron | gpt-neox | mosaic | litdata | olmo-core | nanotron | doremi-original | llama-factory | trl | axolotl")  # fmt: skip
    out: Optional[str] = s(None, "stage=export: the output file (default: beside the mixture)")
    export: Export = section(Export, "stage=export")
    data: Data = section(Data, "where documents come from (data=default)")
    tokenizer: Tokenizer = section(Tokenizer, "tokenizer=byte | bpe | pretrained")
    model: Model = section(Model, "model=tiny | small | hf | hf-120m | hf-280m")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        resume = cfg.resume
        if resume is not None and resume != "auto" and not resume.endswith(".ckpt"):
            raise DoremiError(f"resume={resume}: expected auto (the newest checkpoint of the stage) or a .ckpt file, or null")  # fmt: skip
        if cfg.dro.warm_start and cfg.dro.warm_start >= cfg.proxy.max_steps:
            raise DoremiError(
                f"dro.warm_start={cfg.dro.warm_start} leaves no Group DRO step of proxy.max_steps={cfg.proxy.max_steps}: "
                "make it smaller than proxy.max_steps"
            )


# Keys that configs before the schema lacked (some presets still leave them unset): left out of a swarm run's
# model while null, so that runs trained by an earlier version keep their fingerprints and are reused.
UNSET_BEFORE = ("model.arch", "model.n_layer", "model.n_head", "model.d_model", "model.dropout", "model.hf_config",
                "model.init_from", "model.attn_implementation")  # fmt: skip


def register() -> None:
    """Make `doremi_schema` known to Hydra (conf/config.yaml's defaults list starts with it)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="doremi_schema", node=Config)
