"""`python -m doremi stage=... key=value ...`: a Hydra app that dispatches to doremi.stages."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from doremi.errors import DoremiError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _separate_multirun_jobs(cfg: DictConfig) -> None:
    """In a multirun, jobs get their own run_dir and name unless the sweep sets them."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or cfg.get("stage") == "swarm":  # swarm runs share their run_dir
        return
    overridden = {o.split("=", 1)[0].lstrip("+~") for o in hydra_cfg.overrides.task}
    with open_dict(cfg):
        if "run_dir" not in overridden:
            cfg.run_dir = hydra_cfg.runtime.output_dir
        if "name" not in overridden:
            cfg.name = f"{cfg.name}-{hydra_cfg.job.num}"


def stopped_line(signum: int) -> str:
    from doremi.runtime import where

    at = f" at {where['step']}" if where.get("step") else ""
    stage = f" during stage={where['stage']}" if where.get("stage") else ""
    return (
        f"error: stopped by {signal.Signals(signum).name}{stage}{at}; nothing was published for it: "
        "rerun with resume=auto to continue from its last checkpoint"
    )


def check_command_line(argv: list[str]) -> None:
    """What must be refused before Hydra creates its folder under run_dir: a name that leaves runs/, a
    run_dir below a regular file."""
    from doremi.stages import check_name

    unknown_keys(argv)
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "name" and value:
            check_name(value.strip("'\""))
        if key == "run_dir" and value:
            for parent in [Path(value), *Path(value).parents]:
                if parent.exists() and not parent.is_dir():
                    raise DoremiError(f"run_dir={value}: {parent} is a file, not a folder; choose another run_dir=")


def help_text() -> str:
    """`python -m doremi --help`: the stages of the stage table, then every setting of conf/config.yaml with its
    default and the comment beside it."""
    import re

    from doremi.stages.graph import TABLE

    lines = ["python -m doremi [stage=<stage>] [key=value ...]   (Hydra overrides; the default runs stage=all)", ""]
    lines += ["Stages:"] + [f"  {name:<10} {row.doc}" for name, row in TABLE.items()]
    lines += ["  all        prepare, learn, final, report", "", "Settings (default, then what it does):"]
    stack: list[tuple[int, str]] = []
    pattern = re.compile(r"^(\s*)([A-Za-z_][\w-]*):\s*(.*?)\s*(?:#\s*(.*))?$")
    for raw in (Path(CONFIG_DIR) / "config.yaml").read_text().splitlines():
        match = pattern.match(raw)
        if not match or raw.lstrip().startswith("#"):
            continue
        indent, key, value, doc = len(match[1]), match[2], match[3], match[4] or ""
        if indent == 0 and key in ("defaults", "hydra"):
            stack = [(0, "__skip__")]
            continue
        stack = [(i, k) for i, k in stack if i < indent]
        if any(k == "__skip__" for _, k in stack):
            continue
        name = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if value or doc:
            lines.append(f"  {name} = {value or '(a section)'}" + (f"   # {doc}" if doc else ""))
    lines += ["", "Config groups: model=tiny|small|hf|hf-120m|hf-280m, tokenizer=byte|bpe|pretrained, data=default",
              "More: README.md (stages, settings, methods, exports)."]  # fmt: skip
    return "\n".join(lines)


# Settings whose values are maps of the user's own names (data.domains={wiki: ...}): any key goes below them.
OPEN_MAPS = ("data.domains", "data.domain_map", "model.hf_config", "export.paths", "plan.pin", "sft.pools",
             "sft.domain_to_source", "sft.counts", "data.dataset_config")  # fmt: skip


def unknown_keys(argv: list[str]) -> None:
    """A typo (`dro.etaa=0.5`) is one line naming the closest known keys, instead of Hydra's advice to add it
    with `+`, after which it would be ignored."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from doremi.mixture import closest

    plain = [a for a in argv if "=" in a and not a.startswith(("+", "~", "hydra", "-"))]
    keys = [a.split("=", 1)[0] for a in plain]
    groups = ("data", "tokenizer", "model")
    keys = [k for k in keys if k not in groups and "/" not in k]
    if not keys:
        return
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        group_choices = [a for a in plain if a.split("=", 1)[0] in groups]
        cfg = compose(config_name="config", overrides=group_choices)
    known = list(flat_keys(OmegaConf.to_container(cfg)))
    for key in keys:
        if key in known or any(key == m or key.startswith(m + ".") for m in OPEN_MAPS):
            continue
        if OmegaConf.select(cfg, key, default="__missing__") != "__missing__":
            continue
        raise DoremiError(f"{key} is not a setting{closest(key, known)}; python -m doremi --help lists them all")


def flat_keys(tree, prefix: str = ""):
    for key, value in tree.items():
        name = f"{prefix}{key}"
        yield name
        if isinstance(value, dict):
            yield from flat_keys(value, name + ".")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from doremi.runtime import Stopped, on_signal
    from doremi.stages import run_stage

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _separate_multirun_jobs(cfg)
        run_stage(cfg)
    except Stopped as stop:
        print(stopped_line(stop.signum), file=sys.stderr, flush=True)
        sys.exit(128 + stop.signum)
    except DoremiError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except OSError as err:  # a full disk, a file where a directory should be, no permission
        where = f" {err.filename}" if err.filename else ""
        print(
            f"error: could not read or write{where}: {err.strerror or err}; free space or fix the path",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(help_text())
        sys.exit(0)
    try:
        check_command_line(sys.argv[1:])
    except DoremiError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    main()
