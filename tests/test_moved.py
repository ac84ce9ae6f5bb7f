"""The import paths of 0.5.0 still import: the very module at its new path, with a warning naming it."""

import importlib
import sys

import pytest

from doremi import MOVED, new_name


@pytest.mark.parametrize(
    "old",
    ["doremi.verdict", "doremi.lit.lm", "doremi.stages.methods", "doremi.model.gpt", "doremi.cli", "doremi.errors"],
)
def test_an_old_path_is_the_new_module_with_a_deprecation_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new_name(old)}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new_name(old))


def test_every_old_path_names_a_module_that_exists():
    for new in MOVED.values():
        importlib.import_module(new)
    assert new_name("doremi.report.plots") == "doremi.outputs.report.plots"  # below a moved package
    assert new_name("doremi.data.sampler") is None  # a path that did not move is left alone


@pytest.mark.parametrize("old", ["doremi.verdict", "doremi.stages.trials", "doremi.model"])
def test_an_old_path_leaves_the_real_module_as_it_was_and_reload_works(old):
    """Importing an old path used to relabel the real module (its __spec__ the old path's, an empty __path__ on a
    plain module), and a later importlib.reload silently did nothing."""
    new = importlib.import_module(new_name(old))
    was_package = hasattr(new, "__path__")
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning):
        importlib.import_module(old)
    assert new.__spec__.name == new_name(old) and hasattr(new, "__path__") == was_package
    assert importlib.reload(new) is new and new.__spec__.name == new_name(old)
