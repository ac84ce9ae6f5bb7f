"""The package's layout in figures: files and lines per package, the largest modules, imports
that point from a component up into doremi.stages, import cycles between modules.

    python tools/layout.py [SOURCE_ROOT]   (default: this checkout)
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    """{dotted module name: file} of every module under root/doremi."""
    out = {}
    for path in sorted((root / "doremi").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(path: Path, known: dict[str, Path], top_level_only: bool = False) -> set[str]:
    """The doremi modules `path` imports (at module level only, with top_level_only).

    String imports count: any string constant that names a doremi module (`import_module("doremi.x")`,
    a table of recipe modules) is an edge, since an import hidden in a string is still an import.
    `from doremi import x` is an edge to the module doremi.x, not to the package."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [n for n in subs if n in known] or [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            names = [] if top_level_only else [node.value]  # "doremi" alone is also a method's name
        found |= {n for n in names if n in known}
    return found


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported): a module outside doremi.stages (a component) importing a stage module."""
    return sorted(
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if b.startswith("doremi.stages")
        and not a.startswith("doremi.stages")
        and a not in ("doremi", "doremi.__main__")  # the package face and the entry point stand above all
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph_of(root: Path, top_level_only: bool = False) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(path, known, top_level_only) - {name} for name, path in known.items()}


# doremi's folders from the top down: a folder imports only folders after it.
FLOORS = (
    ("stages",),
    ("pipeline",),
    ("compare",),
    ("methods",),
    ("sft",),
    ("training",),
    ("outputs",),
    ("data",),
    ("store",),
    ("config",),
    ("stats",),
)


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    return next((i for i, names in enumerate(FLOORS) if len(parts) > 1 and parts[1] in names), None)


def against_the_floors(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) where a module imports one of its own floor's other folder or of a floor above."""
    out = []
    for a, targets in graph.items():
        for b in targets:
            fa, fb = floor_of(a), floor_of(b)
            if fa is not None and fb is not None and a.split(".")[1] != b.split(".")[1] and fa >= fb:
                out.append((a, b))
    return sorted(out)


MOST_LINES = 400


def oversized(root: Path, most: int = MOST_LINES) -> list[tuple[str, int]]:
    """Modules longer than `most` lines (a module that long is doing more than one job)."""
    out = []
    for name, path in modules(root).items():
        lines = len(path.read_text().splitlines())
        if lines > most:
            out.append((name, lines))
    return sorted(out)


def names_a_method(root: Path, generic: tuple[str, ...], methods: list[str]) -> list[tuple[str, str]]:
    """(module, method) where a module of `generic` (dotted prefixes) names a method as a string literal: generic
    code asks the registry instead."""
    import ast

    out = []
    for name, path in modules(root).items():
        if not name.startswith(generic):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in methods:
                out.append((name, node.value))
    return sorted(set(out))


def spelled(name: str) -> str:
    """A pattern for a method's name as prose and code spell it: snake_case, the words apart, or joined by a hyphen."""
    import re

    return r"(?<![\w])" + r"[ _-]?".join(re.escape(part) for part in name.split("_")) + r"(?![\w])"


def mentions_a_method(root: Path, own: str, methods: list[str], allowed: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(module, method) where a module outside `own` (the methods' folder) mentions a method's name anywhere, in
    code, strings or comments; `allowed` are the modules that may (the table of moved import paths)."""
    import re

    patterns = {m: re.compile(spelled(m), re.IGNORECASE) for m in methods}
    out = []
    for name, path in modules(root).items():
        if name == own or name.startswith(own + ".") or name in allowed:
            continue
        text = path.read_text()
        out += [(name, m) for m, pattern in patterns.items() if pattern.search(text)]
    return sorted(out)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    known = modules(root)
    per_package: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sizes = {}
    for name, path in known.items():
        lines = len(path.read_text().splitlines())
        package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
        package = package if package.count(".") >= 1 else "doremi (top level)"
        per_package[package][0] += 1
        per_package[package][1] += lines
        sizes[name] = lines
    print("files and lines per package:")
    for package, (files, lines) in sorted(per_package.items()):
        print(f"  {package:<22} {files:>3} files {lines:>6} lines")
    print(f"  {'total':<22} {len(known):>3} files {sum(sizes.values()):>6} lines")
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    print("largest modules: " + ", ".join(f"{n} ({s})" for n, s in largest))
    graph = graph_of(root)
    up = upward(graph)
    print(f"imports from a component up into doremi.stages: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    found = cycles(graph)
    print(f"import cycles (any import): {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    against = against_the_floors(graph)
    print(f"imports against the folders' order: {len(against)}" + "".join(f"\n  {a} -> {b}" for a, b in against))
    big = oversized(root)
    print(f"modules over {MOST_LINES} lines: {len(big)}" + "".join(f"\n  {n} ({s})" for n, s in big))


if __name__ == "__main__":
    main()
