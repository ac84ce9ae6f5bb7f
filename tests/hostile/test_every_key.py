"""Table-driven: every checked setting given a wrong type, an out-of-range value and an empty value is one
DoremiError naming that key, before any stage runs (doremi.settings.check)."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from doremi.errors import DoremiError
from doremi.settings import FLAGS, RANGES, SECTIONS, check


def cases():
    out = []
    for key, (low, high, _, _) in RANGES.items():
        out += [(key, "abc"), (key, str(low - 1 if low != float("-inf") else "abc"))]
        if high != float("inf"):
            out.append((key, str(high + 1)))
    out += [(key, "maybe") for key in FLAGS]
    for section in SECTIONS:
        for f in dataclasses.fields(section):
            key = f.metadata.get("key") or f"{section.SECTION}.{f.name}"
            if "num" in f.metadata:
                out.append((key, "abc"))
                if not f.metadata.get("optional"):
                    out.append((key, "null"))
            elif "choices" in f.metadata:
                out.append((key, "nonsense"))
            elif f.metadata.get("flag"):
                out.append((key, "maybe"))
    return out


@pytest.mark.parametrize("key, value", cases())
def test_a_bad_value_names_its_key(make_cfg, key, value):
    cfg = make_cfg()
    assert OmegaConf.select(cfg, key, default="__absent__") != "__absent__", f"{key} is checked but not a setting"
    OmegaConf.update(cfg, key, None if value == "null" else value, merge=False)
    with pytest.raises(DoremiError, match=rf"^{key.replace('.', '[.]')}="):
        check(cfg)
