"""The optional extras: a feature asked for without its extra stops with one line naming the package and the
extra that brings it, before any work."""

from __future__ import annotations

import importlib
from types import ModuleType

from doremi.config.errors import DoremiError


def needs(module: str, extra: str, feature: str) -> ModuleType:
    """`module` imported, or one line: `feature` needs it, `pip install "doremi-mix[<extra>]"`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise DoremiError(f'{feature} needs {top}, which is not installed: pip install "doremi-mix[{extra}]"') from None
