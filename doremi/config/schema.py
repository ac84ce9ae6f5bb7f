"""Every setting: its type, default, range or choices, and one line of doc. The single source.

The dataclasses below are registered with Hydra's ConfigStore as `doremi_schema`, the base of
conf/config.yaml, so OmegaConf itself refuses a wrong type (`trainer.batch_size=2.5`,
`seed=abc`, `overwrite=maybe`) and an unknown key while the config is composed. Ranges and
choices live in each field's metadata (`ge`, `gt`, `le`, `lt`, `choices`) and cross-key rules
in a section's `validate(cfg)`; doremi.config.settings checks both before any stage starts.
`python -m doremi --help` prints the fields with their defaults and docs. YAML files keep only
what presets change (conf/model/*.yaml, conf/tokenizer/*.yaml).

A field typed `Number` keeps what was given (1 stays 1, 0.5 stays 0.5), so that fingerprints
of finished stages are the ones earlier versions computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.config.fields import Number, betas_rule, s, section
from doremi.config.methods import Compare, Dro, Learn, Warn  # noqa: F401  (the sections every method shares)
from doremi.config.sft import Sft, SftDedup, SftFilters, SftLearn  # noqa: F401  (the SFT sections)


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
    warmup_steps: int = s(100, "linear warmup steps to the peak rate (at most a third of a stage's steps)", ge=0)
    min_lr_ratio: Number = s(0.1, "the cosine ends at lr x this", ge=0, le=1)
    fused: Any = s("auto", "fused AdamW kernel: auto (on GPU) | true | false")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        betas_rule(cfg, "optim.betas")
        if cfg.optim.fused not in ("auto", True, False):
            raise DoremiError(f"optim.fused={cfg.optim.fused}: expected auto, true or false")

    def as_dict(self) -> dict:
        return {k: (list(v) if k == "betas" else v) for k, v in vars(self).items()}


@dataclass
class Prepare:
    """Many machines: run prepare.shard=0..n-1 with prepare.num_shards=n, then once without prepare.shard to merge."""

    num_shards: int = s(1, "shards prepared on separate machines (identical to one machine once merged)", ge=1)
    shard: Optional[int] = s(None, "the shard this machine prepares (null: all, or the merge)", ge=0)
    reuse: Optional[str] = s(None, "another run's prepare/ folder to use instead of preparing here (was prepare.from)")


@dataclass
class Reference:
    mixture: str = s("uniform", "uniform (= stratified) | natural | a mixture .json (a weight 0 leaves a domain out)")
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
        if cfg.dro.sampling == "resample" and cfg.proxy.reference_cache:
            raise DoremiError(
                "proxy.reference_cache=true needs dro.sampling=reweight: resampled batches depend on the weights, "
                "so the chunks to cache are not known in advance; set one of them back"
            )


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
    baselines: List[str] = s(
        ["stratified", "natural"], "mixtures trained beside it, same budget and seeds (uniform: stratified's old name)"
    )
    seeds: Any = s(3, "seeds per mixture (the same for every mixture): a count from `seed`, or a list [0,1,2]")
    max_steps: int = s("${trainer.max_steps}", "optimizer steps per trained mixture", ge=1)
    batch_size: int = s("${trainer.batch_size}", "sequences per step", ge=1)
    eval_every: int = s(50, "steps between held-out evaluations", ge=1)
    eval_chunks: Optional[int] = s(64, "held-out sequences per domain, evenly spread over its held-out split (null: all of them)", ge=1)  # fmt: skip
    average: str = s("none", "the scored model: none (the raw weights) | ema | lawa (averages of the weights; measured on 3 corpora: no less noise, docs/results.md)", choices=("none", "ema", "lawa"))  # fmt: skip
    ema_decay: Number = s(0.99, "final.average=ema: the decay per optimizer step", gt=0, lt=1)
    lawa_every: int = s(10, "final.average=lawa: optimizer steps between snapshots", ge=1)
    lawa_count: int = s(5, "final.average=lawa: the last snapshots averaged", ge=1)

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        seeds_of(cfg, "final.seeds")
        if cfg.final.average == "lawa" and cfg.final.lawa_every >= cfg.final.max_steps:
            raise DoremiError(
                f"final.average=lawa with final.lawa_every={cfg.final.lawa_every} and a run of {cfg.final.max_steps} "
                "steps (final.max_steps): no snapshot would be taken and lawa would score the raw model; lower "
                "final.lawa_every"
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
    """stage=plan: the learned mixture made feasible for the real run (docs/guides/planning.md)."""

    mixture: Optional[str] = s(None, "the mixture to plan from (default: mixtures/<name>.json)")
    token_budget: Optional[Number] = s(None, "tokens the real run trains on (required)", ge=1)
    available: Optional[str] = s(None, "tokens available per domain: a .json {domain: tokens}; null = this run's prepared train split")  # fmt: skip
    max_epochs: Optional[Number] = s(4, "at most this many passes over any domain (Muennighoff et al. 2023); null = no limit", gt=0)  # fmt: skip
    pin: Any = s(None, "{domain: weight} held fixed", open_map=True)
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

    paths: Any = s(
        None, "{domain: the consumer's path, prefix or dataset name}; default: the domain name", open_map=True
    )
    manifest: Optional[str] = s(None, "prepare/manifest.json for document shares (default: ${run_dir}/prepare/manifest.json)")  # fmt: skip
    token_budget: Optional[int] = s(None, "planned training tokens, for OLMo-core repetition ratios", ge=1)
    examples_budget: int = s(1000, "total examples for formats that take exact counts (Axolotl)", ge=1)
    schedule: Optional[str] = s(None, "an online run's schedule.jsonl: format=nanotron writes one data stage per entry")


@dataclass
class Data:
    """Where documents come from. With none of domains / paths / dataset set, the embedded demo corpus
    (Python's standard library) is used."""

    domains: Any = s(None, "{domain name: file, glob or list}: one source per domain", open_map=True)
    paths: Any = s(None, "[files or globs] whose records name their domain in domain_field")
    dataset: Optional[str] = s(None, "a Hugging Face hub dataset name (needs internet), e.g. a Pile copy")
    dataset_config: Any = s(None, "its config name", open_map=True)
    split: str = s("train", "its split")
    text_field: str = s("text", "field holding the document text (dotted paths allowed)")
    domain_field: str = s("domain", "field holding the domain name (dotted, e.g. meta.pile_set_name)")
    val_fraction: Number = s(0.1, "share of documents held out, chosen by a hash of their text", gt=0, lt=1)
    min_val_documents: Optional[int] = s(8, "each domain holds out at least this many documents (the smallest text hashes), at most a third of its documents; null = val_fraction alone", ge=1)  # fmt: skip
    demo_max_chars: int = s(400000, "characters per domain of the demo corpus", ge=1)
    domain_map: Any = s(
        None, "{source domain: domain} renames or merges domains; a source mapped to null is dropped", open_map=True
    )
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
class Target:
    """Your own target documents: every model of stage=compare is scored on them and the recommendation reads them
    (learn.target=external, the default when paths are given); the target-aware methods aim at them."""

    paths: Any = s(None, "[files or globs] of target documents (any format data.paths takes), never trained on: token-identical training documents are dropped and counted")  # fmt: skip
    text_field: str = s("text", "field holding a target document's text (dotted paths allowed)")

    @staticmethod
    def validate(cfg: DictConfig) -> None:
        paths = cfg.target.paths
        if paths is not None and (isinstance(paths, str) or not all(isinstance(p, str) for p in paths)):
            raise DoremiError(
                f"target.paths={paths}: expected a list of files or globs like 'target.paths=[my/*.jsonl]'"
            )
        if cfg.learn.target == "external" and not paths:
            raise DoremiError("learn.target=external needs target.paths=[files of your target documents]")


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
    """model=tiny (the default) | mini | small | hf | hf-120m | hf-280m; the vocabulary comes from the prepared data."""

    seq_len: int = s(128, "tokens per sequence (prepare packs chunks of seq_len + 1)", ge=1)
    arch: Optional[str] = s(None, "null or gpt: the built-in GPT | hf: a transformers causal LM", choices=("gpt", "hf"))
    n_layer: Optional[int] = s(2, "the built-in GPT's layers", ge=1)
    n_head: Optional[int] = s(4, "its attention heads", ge=1)
    d_model: Optional[int] = s(128, "its width", ge=1)
    dropout: Optional[Number] = s(0.0, "its dropout", ge=0, lt=1)
    hf_config: Any = s(None, "model=hf: a dict with a model_type, a config.json, or a hub name", open_map=True)
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
    replace_published: bool = s(False, "publish over mixtures/<name>.json although another run_dir published it (else: error naming that run)")  # fmt: skip
    resume: Optional[str] = s(None, "auto: continue an interrupted stage from its newest checkpoint | a .ckpt path")
    mixtures_dir: str = s("mixtures", "where learned mixtures are copied as <name>.json")
    reports_dir: str = s("reports", "where reports are written as <name>/")
    dro: Dro = section(Dro, "Group DRO")
    learn: Learn = section(Learn, "stage=learn, for every method")
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
    target: Target = section(Target, "your own target documents (target.paths)")
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


_root: type = Config  # the schema as registered (see register)


def root() -> type:
    """The schema as registered: Config with the sections the methods bring (doremi.methods.sections)."""
    return _root


def register(extra: list[tuple[str, type, str]] = ()) -> type:
    """Make `doremi_schema` known to Hydra (conf/config.yaml's defaults list starts with it): Config with the
    methods' own sections (key, dataclass, doc) added after the generic ones, so that a method brings its settings."""
    import dataclasses

    global _root

    from hydra.core.config_store import ConfigStore

    taken = {f.name for f in dataclasses.fields(Config)}
    clash = [key for key, _, _ in extra if key in taken]
    if clash:
        raise DoremiError(f"a method's settings section {clash[0]} is already a key of the schema: rename it")
    cls = Config
    if extra:
        fields = [(key, section_cls, section(section_cls, doc)) for key, section_cls, doc in extra]
        cls = dataclasses.make_dataclass("Config", fields, bases=(Config,), namespace={"__doc__": Config.__doc__})
        cls.__module__ = __name__
    _root = cls
    ConfigStore.instance().store(name="doremi_schema", node=cls)
    return cls
