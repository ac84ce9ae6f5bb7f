"""The house rules as checks: components never import stages, no module imports itself round a cycle."""

from pathlib import Path

from tools.layout import (
    MOST_LINES,
    against_the_floors,
    cycles,
    graph_of,
    mentions_a_method,
    names_a_method,
    oversized,
    upward,
)

ROOT = Path(__file__).resolve().parent.parent


def package_at(tmp_path: Path, *folders: str) -> Path:
    """A `doremi` package under tmp_path with these (empty) sub-packages, for the checks to find a violation in."""
    package = tmp_path / "doremi"
    for folder in ("", *folders):
        (package / folder).mkdir(parents=True, exist_ok=True)
        (package / folder / "__init__.py").write_text("")
    return package


def test_no_component_imports_a_stage():
    assert upward(graph_of(ROOT)) == []


def test_each_folder_imports_only_the_folders_below_it():
    assert against_the_floors(graph_of(ROOT)) == []


def test_the_floor_check_sees_an_import_upward():
    graph = {"doremi.data.sampler": {"doremi.training.lm"}, "doremi.config.schema": {"doremi.store.files"}}
    graph["doremi.training.lm"] = {"doremi.data.sampler"}
    graph["doremi.store.files"] = {"doremi.config.errors"}  # downward: allowed
    assert against_the_floors(graph) == [("doremi.config.schema", "doremi.store.files"), ("doremi.data.sampler", "doremi.training.lm")]  # fmt: skip


def test_no_import_cycles():
    assert cycles(graph_of(ROOT)) == []


def test_the_checks_see_a_violation_when_there_is_one(tmp_path):
    package = package_at(tmp_path, "stages", "training")
    (package / "stages" / "proxy.py").write_text("from doremi.training.runner import go\n")
    (package / "training" / "runner.py").write_text("def go():\n    from doremi.stages.proxy import x\n")
    graph = graph_of(tmp_path)
    assert upward(graph) == [("doremi.training.runner", "doremi.stages.proxy")]
    assert cycles(graph) == [["doremi.stages.proxy", "doremi.training.runner"]]


def test_a_string_import_is_an_edge(tmp_path):
    package = package_at(tmp_path, "stages")
    (package / "stages" / "graph.py").write_text('import importlib\nM = importlib.import_module("doremi.stages.m")\n')
    (package / "stages" / "m.py").write_text("from doremi.stages.graph import TABLE\n")
    assert cycles(graph_of(tmp_path)) == [["doremi.stages.graph", "doremi.stages.m"]]


def test_no_module_is_over_400_lines():
    assert oversized(ROOT) == [], f"split what does more than one job (at most {MOST_LINES} lines a module)"


def test_generic_sft_code_names_no_sft_method_but_asks_the_registry():
    from doremi.sft.methods import BASELINES, known

    generic = ("doremi.stages.sft", "doremi.pipeline.graph", "doremi.sft.tune", "doremi.sft.score", "doremi.sft.devset")
    # "learned" is also sft.mixture's value and its folder's name (sft.mixture=learned, the older way to ask for it)
    named = [m for m in known() if m not in (*BASELINES, "learned")]
    assert len(named) >= 5 and names_a_method(ROOT, generic, named) == []


def test_the_size_and_naming_checks_see_a_violation(tmp_path):
    package = package_at(tmp_path, "stages")
    (package / "stages" / "big.py").write_text("x = 1\n" * 401)
    (package / "stages" / "generic.py").write_text('if method == "ifd":\n    pass\n')
    assert oversized(tmp_path) == [("doremi.stages.big", 401)]
    assert names_a_method(tmp_path, ("doremi.stages",), ["ifd"]) == [("doremi.stages.generic", "ifd")]


def own_named_methods() -> list[str]:
    """The registry's methods whose names are no baseline's and not the package's own name."""
    from doremi import methods

    return [m for m in methods.known() if not m.startswith("doremi") and methods.resolve(m).learn.__module__ != "doremi.methods.baselines"]  # fmt: skip


def test_no_module_outside_the_methods_folder_mentions_a_method():
    named = own_named_methods()
    assert {"regmix", "mixing_law", "odm", "aioli"} <= set(named)
    assert mentions_a_method(ROOT, "doremi.methods", named, allowed=("doremi",)) == []


def test_the_mention_check_sees_prose_and_code(tmp_path):
    package = package_at(tmp_path, "methods")
    (package / "methods" / "regmix.py").write_text("NAME = 'regmix'\n")
    (package / "report.py").write_text("# what the Mixing Law predicts\n")
    (package / "plots.py").write_text("odmetric = 1\n")  # a longer word is no mention
    found = mentions_a_method(tmp_path, "doremi.methods", ["regmix", "mixing_law", "odm"])
    assert found == [("doremi.report", "mixing_law")]


def test_every_module_imports():
    """A name moved or removed is found here, not in the one run that reaches its import."""
    import importlib
    import pkgutil

    import doremi

    failed = {}
    for found in pkgutil.walk_packages(doremi.__path__, "doremi."):
        try:
            importlib.import_module(found.name)
        except Exception as error:  # noqa: BLE001  (any failure is the finding)
            failed[found.name] = repr(error)
    assert failed == {}


def test_no_file_of_the_package_is_ignored_by_git():
    """A pattern of .gitignore meant for a run's folders (outputs/, runs/) must not hide a module of the package."""
    import subprocess

    files = [str(p.relative_to(ROOT)) for p in (ROOT / "doremi").rglob("*.py")]
    result = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr  # 1: none ignored
    assert result.stdout.split() == []
