"""The command line before Hydra runs: the config composed and checked against the schema, so that a bad
key or value is one line and nothing (not even Hydra's own folder under run_dir) is created; `--help`."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from doremi.config import files as config_files
from doremi.config.errors import DoremiError

CONFIG_DIR = str(config_files.CONFIG_DIR)  # inside the package: a wheel carries it
GROUPS = ("data", "tokenizer", "model")


def open_maps() -> tuple[str, ...]:
    """Settings whose values are maps of the user's own names (data.domains={wiki: ...}): any key goes below
    them. Marked in the schema (`open_map`)."""
    from doremi.config.settings import field_table

    return tuple(key for key, (_, f, _) in field_table().items() if f.metadata.get("open_map"))


# Old names kept working: old key -> the schema's key.
RENAMED = {"prepare.from": "prepare.reuse"}


def renamed(argv: list[str]) -> list[str]:
    """`argv` as the schema takes it: old keys (RENAMED) spelled anew, and `~key` (deleting a setting, which
    a typed schema cannot) read as `key=null`, so that `'~model.hf_config' '+model.hf_config={...}'` still
    replaces a preset's map."""
    out = []
    for arg in argv:
        sign = arg[: len(arg) - len(arg.lstrip("+~"))]
        key, eq, value = arg[len(sign) :].partition("=")
        key = RENAMED.get(key, key)
        if sign == "~" and not arg.startswith("-"):
            out.append(f"{key}=null")
        else:
            out.append(f"{sign}{key}{eq}{value}" if eq else arg)
    return out


def expected(key: str) -> str:
    """What the schema takes at `key`, in words."""
    from doremi.config.settings import field_table

    hint = field_table().get(key, (None, None, None))[2]
    if typing.get_origin(hint) is typing.Union:
        args = set(typing.get_args(hint)) - {type(None)}
        if args == {int, float}:
            return "a number"
        hint = args.pop() if len(args) == 1 else hint
    words = {int: "a whole number", bool: "true or false", str: "a text value"}
    if hint in words:
        return words[hint]
    if typing.get_origin(hint) is list:
        item = typing.get_args(hint)[0]
        return f"a list like {key}=[a,b]" if item is str else f"a list of numbers like {key}=[0.9,0.95]"
    if typing.get_origin(hint) is dict:
        return f"a map like {key}={{name: value}}"
    return "another value"


def one_line(err: Exception, overrides: list[str]) -> str:
    """Hydra's and OmegaConf's refusals as one line naming the key, the value given and what it takes."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ValidationError

    cause = err.__cause__
    key = getattr(cause, "full_key", None)
    if key and not isinstance(cause, ValidationError):  # e.g. a new key below a map: Hydra's advice to use +
        return " ".join(line.strip() for line in str(err).splitlines()[:2])
    if key:
        given = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").split("=", 1)[0] == key), None)
        return f"{key}={given}: expected {expected(key)}" if given is not None else f"{key}: {cause}".splitlines()[0]
    text = str(err)
    if isinstance(err, MissingConfigException) and "Available options in '" in text:
        group = text.split("Available options in '", 1)[1].split("'", 1)[0]
        listed = text.split("Available options", 1)[1].split("Config search path", 1)[0]
        options = [line.strip() for line in listed.splitlines()[1:] if line.strip()]
        given = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == group), "?")
        return f"{group}={given} is not a preset; choose one of {', '.join(options)}"
    return text.strip().splitlines()[0]


def compose_checked(overrides: list[str]) -> DictConfig:
    """The config Hydra would compose from `overrides` (sweeps at each of their values), checked against the
    schema; every refusal is one DoremiError naming the key."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    from doremi.config.settings import check

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as err:  # e.g. an unquoted { or > in a value
        text = " ".join(str(err).split())
        raise DoremiError(
            f"could not read the command line: {text} (quote values that hold spaces, braces or <>)"
        ) from None
    ours = [o for o in parsed if not o.is_hydra_override()]
    plain = [o.input_line for o in ours if not o.is_sweep_override()]
    sweeps = [o for o in ours if o.is_sweep_override()]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        try:
            groups = [o for o in plain if o.split("=", 1)[0] in GROUPS]
            unknown_keys(compose(config_name="config", overrides=groups), plain + [o.input_line for o in sweeps])
            cfg = compose(config_name="config", overrides=plain)
        except DoremiError:
            raise
        except Exception as err:  # Hydra's composition errors: wrong types, missing presets, bad syntax
            raise DoremiError(one_line(err, plain)) from None
    for sweep in sweeps:
        key = sweep.get_key_element().lstrip("+~")
        try:
            values = list(sweep.sweep_iterator())
        except Exception:  # an interval sweep (for an optimizer plugin) has no list of values
            continue
        for value in values:
            apply(cfg, key, value, f" (of the sweep {sweep.input_line})")
    check(cfg)
    return cfg


def apply(cfg: DictConfig, key: str, value, where: str = "") -> None:
    """`key=value` set in a composed config as Hydra sets an override (merged into a map), its type checked by
    the schema and its bounds by the field's metadata: one DoremiError naming the key when it does not fit."""
    from omegaconf.errors import OmegaConfBaseException

    from doremi.config.settings import check_value, field_table

    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException:
        raise DoremiError(f"{key}={value}{where}: expected {expected(key)}") from None
    if key in field_table():
        check_value(key, OmegaConf.select(cfg, key), field_table()[key][1])


def unknown_keys(cfg: DictConfig, overrides: list[str]) -> None:
    """A typo (`dro.etaa=0.5`, or `+dro.etaa=0.5`) is one line naming the closest known keys, instead of
    Hydra's advice to add it with `+`, after which it would be ignored."""
    from doremi.data.mixture import closest

    keys = [o.split("=", 1)[0].lstrip("+") for o in overrides if "=" in o and not o.startswith("~")]
    keys = [k for k in keys if k not in GROUPS and "/" not in k]
    known = list(flat_keys(OmegaConf.to_container(cfg)))
    for key in keys:
        if key in known or any(key == m or key.startswith(m + ".") for m in open_maps()):
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


def check_command_line(argv: list[str]) -> DictConfig | None:
    """What must be refused before Hydra creates its folder under run_dir: any bad key or value (the config
    composed and checked), a name that leaves runs/, a run_dir below a regular file, an unknown stage or method.
    Returns the checked config (None when the command line asks Hydra for something else, e.g. --cfg)."""
    from doremi.stages import check_name, preflight

    overrides = [a for a in argv if not a.startswith("-")]
    for arg in overrides:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "name" and value:
            check_name(value.strip("'\""))
        if key == "run_dir" and value:
            for parent in [Path(value), *Path(value).parents]:
                if parent.exists() and not parent.is_dir():
                    raise DoremiError(f"run_dir={value}: {parent} is a file, not a folder; choose another run_dir=")
    if any(a.startswith(("--config", "-c", "--info", "--cfg", "--resolve", "--package", "-p")) for a in argv):
        return None  # Hydra's own questions about the config: let it answer them
    cfg = compose_checked(overrides)
    preflight(cfg)
    return cfg


def help_text(settings: bool = True) -> str:
    """`python -m doremi --help`: the stages of the stage table, then every setting of the schema with its
    default and its doc."""
    from doremi.config.settings import fields
    from doremi.methods import known as mixture_methods
    from doremi.pipeline.graph import TABLE

    lines = ["python -m doremi [stage=<stage>] [key=value ...]   (Hydra overrides; the default runs stage=all)", ""]
    lines += ["Stages:"] + [f"  {name:<10} {row.doc}" for name, row in TABLE.items()]
    lines += ["  all        prepare, learn, final, report", ""]
    lines += ["Methods (method=, compare.methods=): " + ", ".join(mixture_methods()), ""]
    from doremi.sft.methods import known as sft_known

    lines += ["SFT set methods (sft.method=, sft.compare.methods=): " + ", ".join(sft_known()), ""]
    lines += ["Settings (key = default   # what it does; doremi/config/schema.py):"] if settings else []
    for key, f, _ in fields() if settings else ():
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        shown = "null" if default is None else str(default).replace("'", "")
        if isinstance(default, bool):
            shown = str(default).lower()
        lines.append(f"  {key} = {shown}" + (f"   # {f.metadata['doc']}" if f.metadata.get("doc") else ""))
    from doremi.outputs.export.formats import FORMATS

    groups = ", ".join(
        f"{g}=" + "|".join(sorted(p.stem for p in (config_files.CONFIG_DIR / g).glob("*.yaml")))
        for g in ("model", "tokenizer", "data")
    )
    lines += [
        "",
        f"Config groups (presets, doremi/conf/): {groups}",
        f"Export formats (stage=export format=): {'|'.join(FORMATS)}|all (every format, with a README.md)",
        "Renamed: prepare.from is prepare.reuse (the old name still works).",
        "More: docs/index.md (getting started, concepts, guides, reference: docs/reference/settings.md).",
    ]
    return "\n".join(lines)
