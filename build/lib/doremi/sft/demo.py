"""The embedded demo pool: instruction data built from the running interpreter's own files.

Four sources of different character (each example's sub-category is the top-level
module it documents, so diversity sampling has something to spread over):

- `api_docs`:   "What does `module.name` do?" answered by its docstring;
- `examples`:   "Show me how to use `module.name`" answered by a docstring with `>>>` examples;
- `manual`:     "Explain ... in Python" answered by a pydoc reference-manual topic;
- `exceptions`: "When does Python raise X?" answered by the exception's docstring (short:
                most fall to the length filter, as such answers would in LIMA's recipe).

Deterministic on a given interpreter; aliases with the same docstring give real duplicates.
"""

from __future__ import annotations

import ast
import builtins

from doremi.data.demo import library_modules, read_source, stdlib_dir
from doremi.sft.examples import Example


def _chat(source: str, prompt: str, response: str, category: str | None) -> Example:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    return Example(source, messages, category)


def _public_defs(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """Top-level public functions and classes, and the public methods of those classes."""
    out: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            out.append((node.name, node))
            methods = node.body if isinstance(node, ast.ClassDef) else []
            out += [
                (f"{node.name}.{m.name}", m)
                for m in methods
                if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")
            ]
    return out


def _documented() -> list[tuple[str, str, str, str]]:
    """(top-level module, dotted module, name, docstring) of documented functions and classes."""
    root = stdlib_dir()
    out = []
    for path in library_modules():
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if not parts or any(p.startswith("_") for p in parts):
            continue
        try:
            tree = ast.parse(read_source(path) or "")
        except (SyntaxError, ValueError):
            continue
        dotted = ".".join(parts)
        module_doc = ast.get_docstring(tree)
        if module_doc:
            out.append((parts[0], ".".join(parts[:-1]), parts[-1], module_doc))
        for name, node in _public_defs(tree):
            doc = ast.get_docstring(node)
            if doc:
                out.append((parts[0], dotted, name, doc))
    return out


def demo_pool() -> list[Example]:
    pool = []
    for top, module, name, doc in _documented():
        dotted = f"{module}.{name}" if module else name
        pool.append(_chat("api_docs", f"What does `{dotted}` do?", doc, top))
        if ">>>" in doc:
            pool.append(_chat("examples", f"Show me how to use `{dotted}`, with examples.", doc, top))
    from pydoc_data.topics import topics

    for key in sorted(topics):
        pool.append(_chat("manual", f"Explain `{key}` in Python.", topics[key].strip(), None))
    for name in sorted(dir(builtins)):
        value = getattr(builtins, name)
        if isinstance(value, type) and issubclass(value, BaseException) and value.__doc__:
            pool.append(_chat("exceptions", f"When does Python raise `{name}`?", value.__doc__, "builtins"))
    return pool
