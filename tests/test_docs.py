"""The documentation cannot drift from the code: the generated reference is current, the site builds strictly
offline, every `python -m doremi` command in README.md and docs/ composes against the schema and passes its
checks (the light ones run for real), and every Python example parses and imports what exists."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
INLINE = re.compile(r"`(python -m doremi(?:\s[^`]*)?)`")  # the tool's command line, not a module of it
PLACEHOLDER = {"<hub name>": "someone/corpus", "<yours>": "gpu"}


def blocks(language: str) -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), m.group(2)) for p in PAGES for m in FENCE.finditer(p.read_text()) if m.group(1) == language]  # fmt: skip


def commands() -> list[tuple[str, str]]:
    """Every `python -m doremi ...` of the pages: fenced shell lines (continuations joined) and inline code (not a
    synopsis such as `python -m doremi [stage=<stage>] [key=value ...]`)."""
    out = []
    for page, text in blocks("bash"):
        for line in text.replace("\\\n", " ").splitlines():
            if re.search(r"python -m doremi(\s|$)", line):
                out.append((page, line.split("python -m doremi", 1)[1]))
            elif re.search(r"^torchrun .* -m doremi(\s|$)", line):  # a GPU launch: its settings are checked, not run
                out.append((page, line.split("-m doremi", 1)[1]))
    for page in PAGES:
        for match in INLINE.finditer(page.read_text()):
            out.append((page.relative_to(ROOT).as_posix(), match.group(1).split("python -m doremi", 1)[1]))
    return [(p, c) for p, c in out if "<stage>" not in c and "..." not in c]


def overrides(tail: str) -> list[str]:
    """The Hydra overrides of a command line: comments cut, placeholders filled, a sweep's first value, Hydra's own
    settings (launchers) left to Hydra."""
    for mark, value in PLACEHOLDER.items():
        tail = tail.replace(mark, value)
    tail = re.sub(r"\s#.*$", "", tail)
    out = []
    for item in shlex.split(tail):
        if item in ("-m", "--multirun") or item.startswith(("hydra/", "hydra.")):
            continue
        key, _, value = item.partition("=")
        if value.startswith("range("):
            value = value[len("range(") :].split(",")[0]
        elif "," in value and not value.startswith(("[", "{")) and "-m" in tail.split():
            value = value.split(",")[0]
        out.append(f"{key}={value}" if _ else item)
    return out


def test_the_generated_reference_is_current():
    """In a process of its own: tests that plug a method with a settings section into this one change the schema."""
    result = subprocess.run([sys.executable, "tools/reference.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # stale: run python tools/reference.py


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


@pytest.mark.slow
def test_the_site_builds_strictly_offline(tmp_path):
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.fail('mkdocs is missing: pip install -e ".[docs]" (the test extra includes it)')
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "settings" / "index.html").is_file()


@pytest.mark.parametrize("page, tail", commands(), ids=[f"{p}:{t.strip()[:40]}" for p, t in commands()])
def test_every_command_of_the_docs_composes_and_passes_the_settings_checks(tmp_path, page, tail):
    """What runs before any work (the schema's types, bounds and rules, the stage, the methods) accepts it; a
    command needing a GPU, a cluster or the internet gets this check only."""
    from doremi.stages import STAGES, check_name
    from doremi.stages.cli import compose_checked, renamed

    items = overrides(tail)
    if items[:1] == ["--help"]:
        return  # tests/config/test_schema.py runs it
    cfg = compose_checked(renamed(items))  # as the command line composes and checks it
    assert str(cfg.stage) in STAGES
    check_name(str(cfg.name))
    if cfg.stage in ("learn", "all", "compare"):
        from doremi.methods import entries, resolve

        resolve(str(cfg.method))
        entries([m for m in cfg.compare.methods if not str(m).endswith(".json")])


# export trains nothing; stage=plan and the hf-datasets export read the quick start's prepared run (their settings
# are checked above)
LIGHT = [c for c in commands() if "stage=export" in c[1] and "hf-datasets" not in c[1]]


@pytest.mark.parametrize("page, tail", LIGHT, ids=[t.strip()[:50] for _, t in LIGHT])
def test_the_light_commands_of_the_docs_run_as_written(tmp_path, page, tail):
    """export and plan train nothing: they run for real on the published demo mixture, in a fresh folder."""
    (tmp_path / "mixtures").mkdir()
    shutil.copy(ROOT / "mixtures" / "demo.json", tmp_path / "mixtures" / "demo.json")
    items = overrides(tail)
    result = subprocess.run([sys.executable, "-m", "doremi", *items], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("page, code", blocks("python"), ids=[p for p, _ in blocks("python")])
def test_every_python_example_parses_and_imports_what_exists(page, code):
    """Examples are fragments of the reader's own program (a model, a trainer of theirs): each parses, and every
    name it imports from doremi, transformers or torch exists."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("doremi", "transformers", "torch"):  # fmt: skip
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{page}: {node.module} has no {alias.name}"


@pytest.mark.parametrize("page, code", blocks("json"), ids=[p for p, _ in blocks("json")])
def test_every_json_example_parses(page, code):
    """The artifacts' examples are real JSON (a JSON Lines example: every line)."""
    import json

    try:
        json.loads(code)
    except json.JSONDecodeError:
        for line in code.strip().splitlines():
            json.loads(line)
