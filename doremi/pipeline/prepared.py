"""Where a stage's files are, and the prepared data checked against this run's settings.

Kept free of torch and Lightning, so that the stages that train nothing (plan, export)
start quickly.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from doremi.config.errors import DoremiError
from doremi.data.packing import PackedData
from doremi.pipeline.graph import stage_dir  # noqa: F401  (stages import it from here)


def load_prepared(cfg: DictConfig) -> PackedData:
    """The prepare stage's output, checked against this run's sequence length."""
    data = PackedData(stage_dir(cfg, "prepare"))
    wanted = OmegaConf.to_container(cfg.tokenizer, resolve=True)
    had = data.manifest.get("tokenizer_config", {})
    for key in sorted(set(wanted) | set(had)):
        if wanted.get(key) != had.get(key):
            raise DoremiError(
                f"tokenizer.{key}={wanted.get(key)} but {data.dir} was prepared with tokenizer.{key}={had.get(key)} "
                f"({data.tokenizer['kind']}, {data.tokenizer['vocab_size']} ids); rerun stage=prepare with overwrite=true"
            )
    if data.seq_len != int(cfg.model.seq_len):
        raise DoremiError(
            f"model.seq_len={cfg.model.seq_len} but {data.dir} holds {data.seq_len}-token sequences; "
            f"set model.seq_len={data.seq_len} or rerun stage=prepare with overwrite=true"
        )
    return data
