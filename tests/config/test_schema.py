"""One schema for every setting (doremi/config/schema.py): presets compose against it, --help is printed from it, and
stages finished before it are still reused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from doremi.config.settings import fields
from doremi.stages import run_stage
from doremi.stages.cli import CONFIG_DIR, compose_checked
from tests.conftest import TINY, domains_override, synthetic_domains

PRESETS = [f"{group}={p.stem}" for group in ("model", "tokenizer", "data") for p in sorted((Path(CONFIG_DIR) / group).glob("*.yaml"))]  # fmt: skip


def test_every_setting_has_a_doc():
    undocumented = [key for key, f, _ in fields() if not f.metadata.get("doc")]
    assert undocumented == []


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_against_the_schema_and_passes_its_checks(tmp_path, preset):
    extra = ["tokenizer.path=tokenizer.json"] if preset == "tokenizer=pretrained" else []
    cfg = compose_checked([f"run_dir={tmp_path}", preset, *extra])
    group, name = preset.split("=")
    changed = OmegaConf.load(Path(CONFIG_DIR) / group / f"{name}.yaml") or {}
    for key, value in changed.items():  # the preset's values win over the schema's defaults
        assert OmegaConf.to_container(cfg[group])[key] == value


def test_help_lists_stages_methods_and_every_setting_with_its_default_and_doc():
    result = subprocess.run([sys.executable, "-m", "doremi", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "powered by Hydra" not in result.stdout
    lines = result.stdout.splitlines()
    for key, f, _ in fields():
        line = next((x for x in lines if x.startswith(f"  {key} = ")), None)
        assert line is not None and line.endswith(f"# {f.metadata['doc']}"), key
    assert "  dro.eta = 1.0   # step size" in result.stdout and "  overwrite = false" in result.stdout
    assert "  compare    " in result.stdout and "mixing_law" in result.stdout


def test_a_stage_finished_before_the_schema_is_reused(tmp_path):
    """Configs before the schema lacked keys it now holds at null: a done.json without them still matches."""
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=60, seed=1)
    overrides = [f"run_dir={tmp_path / 'run'}", *TINY, domains_override(files), "stage=prepare"]
    run_stage(compose_checked(overrides))
    done = tmp_path / "run" / "prepare" / "done.json"
    record = json.loads(done.read_text())
    assert record["settings"]["data.dataset"] is None
    del record["settings"]["data.dataset"]  # as an older version, whose config lacked the key, wrote it
    done.write_text(json.dumps(record))
    stamp = (tmp_path / "run" / "prepare" / "manifest.json").stat().st_mtime_ns
    run_stage(compose_checked(overrides))
    assert (tmp_path / "run" / "prepare" / "manifest.json").stat().st_mtime_ns == stamp  # reused, not redone
    record["settings"]["data.text_field"] = "body"  # a real change is still one line naming the key
    done.write_text(json.dumps(record))
    with pytest.raises(Exception, match=r"other settings \(data.text_field: 'body' -> 'text'\)"):
        run_stage(compose_checked(overrides))
