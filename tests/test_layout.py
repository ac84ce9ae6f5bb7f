"""The house rules as checks: components never import stages, no module imports itself round a cycle."""

from pathlib import Path

from tools.layout import cycles, graph_of, upward

ROOT = Path(__file__).resolve().parent.parent


def test_no_component_imports_a_stage():
    assert upward(graph_of(ROOT)) == []


def test_no_import_cycles():
    assert cycles(graph_of(ROOT)) == []


def test_the_checks_see_a_violation_when_there_is_one(tmp_path):
    package = tmp_path / "doremi"
    (package / "stages").mkdir(parents=True)
    (package / "lit").mkdir()
    for init in (package, package / "stages", package / "lit"):
        (init / "__init__.py").write_text("")
    (package / "stages" / "proxy.py").write_text("from doremi.lit.runner import go\n")
    (package / "lit" / "runner.py").write_text("def go():\n    from doremi.stages.proxy import x\n")
    graph = graph_of(tmp_path)
    assert upward(graph) == [("doremi.lit.runner", "doremi.stages.proxy")]
    assert cycles(graph) == [["doremi.lit.runner", "doremi.stages.proxy"]]


def test_a_string_import_is_an_edge(tmp_path):
    package = tmp_path / "doremi"
    (package / "stages").mkdir(parents=True)
    for init in (package, package / "stages"):
        (init / "__init__.py").write_text("")
    (package / "stages" / "graph.py").write_text('import importlib\nM = importlib.import_module("doremi.stages.m")\n')
    (package / "stages" / "m.py").write_text("from doremi.stages.graph import TABLE\n")
    assert cycles(graph_of(tmp_path)) == [["doremi.stages.graph", "doremi.stages.m"]]
