"""The stage graph in one table: every stage's recipe, the artifacts it reads and writes, and
the settings that decide its output. Readers ask for an artifact by name (`locate`), never by
building `run_dir / "proxy" / "mixture.json"` themselves.

Torch-free, so that the stages that train nothing (plan, export) start quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from doremi import methods
from doremi.config.errors import DoremiError
from doremi.config.keys import FINAL_SETTINGS, TRAINING  # noqa: F401  (other stages import them from here)
from doremi.store.files import file_record, read_record


@dataclass(frozen=True)
class Artifact:
    stage: str  # the stage whose folder holds it (and whose done.json vouches for it)
    path: str  # inside that folder; "" = the folder itself
    doc: str


ARTIFACTS = {
    "prepared": Artifact("prepare", "", "packed token chunks per domain, tokenizer and manifest"),
    "manifest": Artifact("prepare", "manifest.json", "domains, token and document counts, tokenizer"),
    "reference_model": Artifact("reference", "model.pt", "the reference model"),
    "proxy_mixture": Artifact("proxy", "mixture.json", "DoReMi's averaged weights"),
    "trajectory": Artifact("proxy", "trajectory.jsonl", "DoReMi's weights and excess losses at every step"),
    "rounds": Artifact("proxy", "rounds.json", "iterated DoReMi: every round's weights"),
    "learned_mixture": Artifact("learn", "mixture.json", "the mixture learned by `method`"),
    "final_eval": Artifact("final", "eval.json", "held-out losses per mixture and seed, verdicts"),
    "final_model": Artifact("final", "model.pt", "the candidate's final model (first seed)"),
    "final_models": Artifact("final", "", "every final mixture and seed, with hf/ checkpoints"),
    "downstream": Artifact("final", "downstream.json", "lm-eval task scores (published by stage=eval)"),
    "swarm_runs": Artifact("swarm", "runs.jsonl", "the swarm's table: each run's weights and held-out losses"),
    "leaderboard": Artifact("compare", "leaderboard.json", "every method's verdicts, cost and weights"),
    "recommended_mixture": Artifact("compare", "recommended.json", "the recommended mixture, as published"),
    "sft_set": Artifact("sft_mix", "", "the SFT set: train.jsonl, dev.jsonl, manifest.json"),
    "sft_eval": Artifact("sft", "eval.json", "SFT dev losses"),
    "sft_leaderboard": Artifact("sft_compare", "leaderboard.json", "every SFT set's verdicts, forgetting and cost"),
}


def method_of(cfg: DictConfig) -> str:
    return str(cfg.get("method") or "doremi")


def stage_dir(cfg: DictConfig, stage: str) -> Path:
    """The folder of `stage` in this run: `learn` is one folder per method (learn/<method>/), and
    `prepare.reuse` points `prepare` at another run's prepared data."""
    if stage == "learn":
        return Path(cfg.run_dir) / "learn" / method_of(cfg)
    if stage == "prepare" and cfg.get("prepare") is not None and cfg.prepare.get("reuse"):
        return Path(str(cfg.prepare.reuse))
    return Path(cfg.run_dir) / stage


def made_by(cfg: DictConfig, name: str) -> str:
    """The stage whose done.json vouches for artifact `name`. A method's learned mixture may come from a bare
    run of the stage its method names (`Method.made_by`: DoReMi's stage=proxy, older than stage=learn)."""
    stage = ARTIFACTS[name].stage
    if name == "learned_mixture" and not (stage_dir(cfg, stage) / "done.json").exists():
        method = methods.find(method_of(cfg))
        if method and method.made_by and (stage_dir(cfg, method.made_by) / "done.json").exists():
            return method.made_by
    return stage


def producer(cfg: DictConfig, name: str) -> Path:
    """The folder whose done.json vouches for artifact `name` (see made_by)."""
    return stage_dir(cfg, made_by(cfg, name))


def locate(cfg: DictConfig, name: str) -> Path:
    """The path of artifact `name` in this run (it may not exist yet)."""
    folder = producer(cfg, name)
    return folder / ARTIFACTS[name].path if ARTIFACTS[name].path else folder


def require(cfg: DictConfig, name: str, reader: str, _checked: set | None = None) -> Path:
    """The path of artifact `name`, whose producing stage must have finished; else one line naming both.

    What the producer recorded in its done.json is checked too: the content of the files it wrote (an edited,
    truncated or foreign file is named with the stage to rerun) and, all the way up, that every stage it was
    made from is still finished with the output it was made from (a deleted or redone input makes it stale)."""
    stage = made_by(cfg, name)
    folder = stage_dir(cfg, stage)
    path = locate(cfg, name)
    how = f"stage=learn method={method_of(cfg)}" if stage == "learn" else f"stage={stage}"
    if not (folder / "done.json").is_file() or not path.exists():
        raise DoremiError(
            f"stage={reader} reads {path} ({ARTIFACTS[name].doc}), but {folder} is not finished: "
            f"run {how} first (same run_dir=)"
        )
    checked = set() if _checked is None else _checked
    if folder in checked:
        return path
    checked.add(folder)
    done = read_record(folder / "done.json", None, f"rerun {how} with overwrite=true")
    for relative, recorded in (done.get("outputs") or {}).items():
        if file_record(folder / relative) != recorded:
            raise DoremiError(
                f"{folder / relative} is not the file {how} wrote (its content changed since: edited, truncated or "
                f"replaced); stage={reader} will not read it: rerun {how} with overwrite=true"
            )
    settings = done.get("settings") or {}
    for artifact in names(TABLE[stage].inputs, cfg) if stage in TABLE else ():
        recorded = settings.get(f"{ARTIFACTS[artifact].stage} output")
        if recorded is None:
            continue  # made before inputs were recorded
        upstream = producer(cfg, artifact)
        done_file = upstream / "done.json"
        current = (
            read_record(done_file, None, f"rerun stage={ARTIFACTS[artifact].stage}").get("fingerprint")
            if done_file.is_file()
            else None
        )
        if current != recorded:
            why = "is no longer finished (its done.json is missing)" if current is None else "was redone since"
            raise DoremiError(
                f"{folder} was made from {upstream}, which {why}: what {how} made is stale; rerun "
                f"{how} with overwrite=true (after stage={ARTIFACTS[artifact].stage})"
            )
        require(cfg, artifact, reader, checked)
    return path


def recorded_outputs(stage: str, folder: Path) -> dict:
    """{file: its record} of the artifacts `stage` wrote into `folder` (for its done.json)."""
    out = {}
    for artifact in TABLE[stage].artifacts:
        relative = ARTIFACTS[artifact].path or ("manifest.json" if artifact == "prepared" else "")
        if relative and (folder / relative).is_file():
            out[relative] = file_record(folder / relative)
    return out


Names = tuple[str, ...] | Callable[[DictConfig], tuple[str, ...]]


@dataclass(frozen=True)
class Stage:
    name: str
    doc: str
    inputs: Names  # artifacts it reads (or a function of the config giving them)
    settings: Names  # keys whose values decide its output
    artifacts: tuple[str, ...]  # artifacts it writes
    locked: bool | Callable[[DictConfig], bool] = True  # one process at a time per run_dir (doremi.store.lock)
    light: bool = False  # trains nothing: must not import torch or Lightning
    runs_first: Names = ()  # stages its recipe runs itself when they are not finished (not refused before it starts)


def _learn_inputs(cfg: DictConfig) -> tuple[str, ...]:
    """What the method reads, and the artifacts of the stages it runs first (so that its mixture goes stale
    with them)."""
    method = methods.resolve(method_of(cfg))
    made = tuple(next(a for a in TABLE[stage].artifacts if ARTIFACTS[a].path) for stage in method.needs)
    return tuple(dict.fromkeys((*method.inputs, *made)))


def method_settings(method: methods.Method) -> tuple[str, ...]:
    """The settings that decide a method's mixture: its own and those of the stages it runs (DoReMi: reference, proxy)."""
    return tuple(dict.fromkeys((*method.settings, *(key for stage in method.needs for key in TABLE[stage].settings))))


def _learn_settings(cfg: DictConfig) -> tuple[str, ...]:
    feasible = ("plan", "final.max_steps", "final.batch_size") if cfg.learn.get("feasible") else ()
    keys = method_settings(methods.resolve(method_of(cfg)))
    given = cfg.get("target") is not None and cfg.target.get("paths")
    target = ("target",) if given and "learn.target" in keys else ()  # a method aimed at target.paths
    return ("method", "learn.feasible", *keys, *target, *feasible)


def _prepare_settings(cfg: DictConfig) -> tuple[str, ...]:
    """tokenizer.train_chars decides only a trained (bpe) tokenizer."""
    bpe = ("tokenizer.train_chars",) if cfg.tokenizer.kind == "bpe" else ()
    return ("data", "tokenizer.kind", "tokenizer.vocab_size", "tokenizer.path", *bpe, "model.seq_len")


def _report_inputs(cfg: DictConfig) -> tuple[str, ...]:
    """`method`'s learned mixture; after a stage=compare that did not learn it, the compare's leaderboard (the
    report then shows the recommended method's mixture: a plain stage=report after a compare works)."""
    learned = (producer(cfg, "learned_mixture") / "done.json").is_file()
    if not learned and (stage_dir(cfg, "compare") / "done.json").is_file():
        return ("leaderboard",)
    return ("learned_mixture",)


def _final_inputs(cfg: DictConfig) -> tuple[str, ...]:
    return ("prepared",) if cfg.final.get("mixture") else ("prepared", "learned_mixture")


def _sft_mix_inputs(cfg: DictConfig) -> tuple[str, ...]:
    """What stage=sft_mix's method reads: a method that scores with the base model (ifd, quality) reads sft.base,
    one that learns quotas (learned, or the older sft.mixture=learned) reads sft.learn.base, both through the
    prepared data (a model.pt path is fingerprinted by content as a setting)."""
    from doremi.sft.methods import known, resolve

    name = "learned" if cfg.sft.mixture == "learned" else str(cfg.sft.method)
    if name not in known():
        return ()
    method = resolve(name)
    models = {"reference": ("reference_model",), "final": ("final_model",)}
    out: tuple[str, ...] = ()
    if method.uses_base and not method.learns_quotas:  # a method learning quotas fine-tunes from sft.learn.base
        out += ("prepared", *_sft_base(cfg))
    if method.learns_quotas:
        out += ("prepared", *models.get(str(cfg.sft.learn.base), ()))
    return tuple(dict.fromkeys(out))


def _sft_base(cfg: DictConfig) -> tuple[str, ...]:
    """The model stage=sft and stage=sft_compare fine-tune (sft.base): a stage's model, or a model.pt path (its
    content is fingerprinted as a setting)."""
    return {"reference": ("reference_model",), "final": ("final_model",)}.get(str(cfg.sft.base), ())


def _sft_inputs(cfg: DictConfig) -> tuple[str, ...]:
    return ("prepared", *_sft_base(cfg), "sft_set")


def _learns_quotas(cfg: DictConfig) -> bool:
    """Whether an SFT method of the compare learns quotas (from sft.learn.base)."""
    from doremi.sft.methods import known, resolve

    return any(resolve(str(m)).learns_quotas for m in cfg.sft.compare.methods if str(m) in known())


def _sft_compare_inputs(cfg: DictConfig) -> tuple[str, ...]:
    learned = _learns_quotas(cfg) and str(cfg.sft.learn.base) in ("reference", "final")
    extra = ({"reference": "reference_model", "final": "final_model"}[str(cfg.sft.learn.base)],) if learned else ()
    return tuple(dict.fromkeys(("prepared", *_sft_base(cfg), *extra)))


def _sft_compare_first(cfg: DictConfig) -> tuple[str, ...]:
    """The stages a first stage=sft_compare runs itself when they are not finished: the pipeline up to its base
    model (and the reference that learned quotas start from)."""
    first = {"final": ("prepare", "learn", "final"), "reference": ("prepare", "reference")}.get(
        str(cfg.sft.base), ("prepare",)
    )
    if _learns_quotas(cfg) and str(cfg.sft.learn.base) == "reference":
        first = (*first, "reference")
    return tuple(dict.fromkeys(first))


def _compare_settings(cfg: DictConfig) -> tuple[str, ...]:
    """The final stage's settings, and those of every listed method (its learned mixture follows from them)."""
    keys = [key for e in methods.entries(cfg.compare.methods) if e.method for key in method_settings(e.method)]
    target = ("target",) if cfg.get("target") is not None and cfg.target.get("paths") else ()  # else: ids as before
    return tuple(dict.fromkeys(("compare", "learn", *target, *FINAL_SETTINGS, *keys)))


def learned_or_published(cfg: DictConfig) -> Path:
    """The mixture a light stage (plan, export) works on by default: this run's learned mixture when it
    has one, else the published mixtures/<name>.json."""
    learned = locate(cfg, "learned_mixture")
    if (producer(cfg, "learned_mixture") / "done.json").is_file() and learned.is_file():
        return learned
    return Path(cfg.mixtures_dir) / f"{cfg.name}.json"


def _mixture_reader(key: str) -> Callable[[DictConfig], tuple[str, ...]]:
    """Stages that read a mixture named by `key`, else this run's learned mixture."""
    return lambda cfg: (
        () if cfg.get(key) or (key == "plan.mixture" and cfg.plan.get("mixture")) else ("learned_mixture",)
    )


TABLE: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "prepare",
            "tokenize, pack and split the documents of every domain",
            (),
            _prepare_settings,
            ("prepared", "manifest"),
        ),
        Stage(
            "reference",
            "train the reference model on reference.mixture",
            ("prepared",),
            ("model", "optim", "reference", "seed", *TRAINING),
            ("reference_model",),
        ),
        Stage(
            "proxy",
            "DoReMi's proxy with Group DRO against the reference",
            ("prepared", "reference_model"),
            (
                "model",
                "optim",
                "proxy",
                "dro",
                "warn",
                "seed",
                "rounds",
                "rounds_tolerance",
                "reference",
                "final.eval_chunks",
                *TRAINING,
            ),
            ("proxy_mixture", "trajectory", "rounds"),
        ),
        Stage(
            "learn",
            "learn the mixture with `method`",
            _learn_inputs,
            _learn_settings,
            ("learned_mixture",),
            runs_first=lambda cfg: methods.resolve(method_of(cfg)).needs,
        ),
        Stage(
            "final",
            "train final models on the learned mixture and the baselines; verdicts",
            _final_inputs,
            FINAL_SETTINGS,
            ("final_eval", "final_model", "final_models"),
        ),
        Stage(
            "compare",
            "learn every method of compare.methods, train each at the final settings; leaderboard",
            ("prepared",),
            _compare_settings,
            ("leaderboard", "recommended_mixture"),
            runs_first=("prepare",),  # a first stage=compare is one command
            locked=lambda cfg: cfg.compare.get("trial") is None,  # trial jobs run side by side
        ),
        Stage(
            "swarm",
            "the small runs the fitted methods learn from (swarm.index picks them; Hydra's launchers spread them)",
            ("prepared",),
            ("swarm",),
            ("swarm_runs",),
            locked=False,
        ),
        Stage("report", "plots and report.md / report.html under reports/<name>/", _report_inputs, (), ()),
        Stage(
            "sft_mix",
            "a LIMA-style SFT set: quotas, filters, dedup",
            _sft_mix_inputs,
            ("sft", "dro", "seed", *TRAINING),
            ("sft_set",),
        ),
        Stage(
            "sft",
            "fine-tune the base model (sft.base: the final one) on the SFT set",
            _sft_inputs,
            ("sft", "seed", "final.eval_chunks", *TRAINING),
            ("sft_eval",),
        ),
        Stage(
            "sft_compare",
            "every SFT set method of sft.compare.methods fine-tunes the same base with the same seeds; leaderboard",
            _sft_compare_inputs,
            ("sft", "dro", "seed", "final.eval_chunks", *TRAINING),
            ("sft_leaderboard",),
            locked=lambda cfg: cfg.sft.compare.get("trial") is None,  # trial jobs run side by side
            runs_first=_sft_compare_first,  # a first stage=sft_compare is one command
        ),
        Stage(
            "eval", "lm-evaluation-harness tasks on every final model", ("final_models",), ("eval",), ("downstream",)
        ),
        Stage(
            "export",
            "the mixture in another trainer's format",
            _mixture_reader("mixture"),
            (),
            (),
            locked=False,
            light=True,
        ),
        Stage(
            "plan",
            "the mixture made feasible for the real run",
            _mixture_reader("plan.mixture"),
            (),
            (),
            locked=False,
            light=True,
        ),
    )
}

PIPELINE = ("prepare", "learn", "final", "report")
STAGES = (*TABLE, "all")


def names(value: Names, cfg: DictConfig) -> tuple[str, ...]:
    return tuple(value(cfg) if callable(value) else value)
