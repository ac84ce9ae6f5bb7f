"""The one module that reads and validates mixture files."""

import json
from pathlib import Path

import pytest

from doremi.config.errors import DoremiError
from doremi.data.mixture import load_mixture


def write(tmp_path, obj, name="m.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize(
    "weights, fragment",
    [
        ({"a": 0.5, "b": -0.5, "c": 1.0}, "weight of 'b' is -0.5"),
        ({"a": float("nan"), "b": 1.0}, "finite"),
        ({"a": 0.0, "b": 0.0}, "all weights are 0"),
        ({"a": 0.5, "b": 0.6}, "sum to 1.1"),
        ({"a": "x", "b": 1.0}, "finite numbers"),
    ],
)
def test_bad_weights_are_one_line_errors(tmp_path, weights, fragment):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"weights": weights}).replace("NaN", "NaN"))
    with pytest.raises(DoremiError, match=fragment) as err:
        load_mixture(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_sums_off_one_are_rescaled_only_on_request(tmp_path):
    path = write(tmp_path, {"weights": {"a": 1.0, "b": 3.0}})
    assert load_mixture(path, normalize=True) == {"a": 0.25, "b": 0.75}


def test_domains_checked_against_the_data(tmp_path):
    path = write(tmp_path, {"weights": {"wiki": 0.5, "code": 0.5}})
    with pytest.raises(DoremiError, match="no weight for domain 'books'"):
        load_mixture(path, domains=["books", "code", "wiki"])
    with pytest.raises(DoremiError, match="closest: wikipedia"):
        load_mixture(path, domains=["code", "wikipedia"])


def test_original_doremi_format_and_shipped_pile_mixtures(tmp_path):
    path = write(
        tmp_path, {"train_domain_weights": {"b": 0.75, "a": 0.25}, "eval_domain_weights": {"a": 0.5, "b": 0.5}}
    )
    assert load_mixture(path) == {"a": 0.25, "b": 0.75}
    shipped = Path(__file__).resolve().parents[2] / "mixtures"
    doremi = load_mixture(shipped / "pile_doremi_280m.json")
    baseline = load_mixture(shipped / "pile_baseline.json")
    assert len(doremi) == len(baseline) == 22
    assert max(doremi, key=doremi.get) == "Pile-CC" and max(baseline, key=baseline.get) == "OpenWebText2"


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(DoremiError, match="not found"):
        load_mixture(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(DoremiError, match="not valid JSON"):
        load_mixture(broken)
