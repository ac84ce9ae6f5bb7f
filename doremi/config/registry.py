"""One registry type for the tool's two kinds of method: mixture methods (doremi.methods) and SFT set methods
(doremi.sft.methods). Each kind's registry holds its built-in methods, the methods other packages declare in an
entry-point group (`doremi.methods`, `doremi.sft_methods`: the Python packaging convention for plug-ins, read with
importlib.metadata), and those registered at run time with `register`. A method is any object with a `name` and a
`sections` tuple of (key, dataclass, doc): the settings sections it brings into the schema."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from doremi.config.errors import DoremiError


class Registry:
    def __init__(self, kind: str, group: str, builtins: Callable[[], list]):
        self.kind, self.group, self._builtins = kind, group, builtins
        self._added: dict[str, object] = {}
        self._found: dict[str, object] | None = None
        self.changed: Callable[[], None] = lambda: None  # told after register/unregister (the schema's sections)

    def register(self, method):
        """Add a plug-in method (returned, so that `METHOD = register(Method(...))` reads well); a name already taken
        by another method is one line."""
        taken = self.all().get(method.name)
        if taken is not None and taken is not method:
            raise DoremiError(f"the {self.kind} {method.name!r} is already registered: give the plug-in another name")
        self._added[method.name] = method
        self.changed()
        return method

    def unregister(self, name: str) -> None:
        self._added.pop(name, None)
        self.changed()

    def plugins(self) -> list:
        """The methods of the entry-point group: each entry point names a method or a list of them."""
        out = []
        for point in metadata.entry_points(group=self.group):
            try:
                loaded = point.load()
            except Exception as error:  # a broken plug-in is named, not a traceback
                raise DoremiError(f"the {self.group} entry point {point.name} ({point.value}) does not load: {error}") from None  # fmt: skip
            out += list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
        return out

    def all(self) -> dict[str, object]:
        """{name: method}: the built-in ones, the entry points' (read once), the registered ones."""
        if self._found is None:
            found: dict[str, object] = {}
            for method in [*self._builtins(), *self.plugins()]:
                if found.setdefault(method.name, method) is not method:
                    raise DoremiError(f"two {self.kind}s are named {method.name!r}: rename the plug-in")
            self._found = found
        return {**self._found, **self._added}

    def sections(self) -> list[tuple[str, type, str]]:
        """The settings sections the methods bring, (key, dataclass, doc), each once, for the schema."""
        out: dict[str, tuple[str, type, str]] = {}
        for method in self.all().values():
            for key, cls, doc in getattr(method, "sections", ()):
                if out.setdefault(key, (key, cls, doc))[1] is not cls:
                    raise DoremiError(f"two {self.kind}s bring different settings sections named {key}: rename one")
        return list(out.values())
