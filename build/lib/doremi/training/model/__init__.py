"""The language models doremi trains: the built-in GPT (`model=tiny|small`) or any
`transformers` causal LM (`model=hf`, `hf-120m`, `hf-280m`). Both give logits for token ids
and per-token losses; everything that trains or scores a model builds it with `build_model`."""

from __future__ import annotations

import functools

import torch.nn as nn

GPT_KEYS = ("vocab_size", "seq_len", "n_layer", "n_head", "d_model", "dropout")


def build_model(settings: dict) -> nn.Module:
    """A freshly initialized model (or, with model.init_from, a pretrained one) from the run's model settings
    (the `model` config plus `vocab_size`)."""
    if settings.get("arch", "gpt") == "hf":
        from doremi.training.model.hf import HFCausalLM

        model = HFCausalLM(settings)
    else:
        from doremi.training.model.gpt import GPT, GPTConfig

        model = GPT(GPTConfig(**{k: settings[k] for k in GPT_KEYS if k in settings}))
    model.settings = dict(settings)  # what built it: gathering a sharded copy and saving it read this
    return model


def describe(model: nn.Module) -> str:
    """One line: the architecture and its parameter count."""
    lm = getattr(model, "lm", None)
    kind = f"transformers {type(lm).__name__}" if lm is not None else "built-in GPT"
    return f"{kind}, {model.num_params() / 1e6:.2f}M parameters"


def count_params(settings: dict) -> int:
    """The parameter count of the model `settings` describe, built once per distinct settings (a stage's FLOPs)."""
    import json

    return _count(json.dumps(settings, sort_keys=True, default=str))


@functools.lru_cache(maxsize=16)
def _count(settings_json: str) -> int:
    import json

    return int(build_model(json.loads(settings_json)).num_params())


def model_config(cfg, data) -> dict:
    """The model settings of this run (the `model` config, its vocabulary from the prepared data): what builds it."""
    from omegaconf import OmegaConf

    from doremi.config.schema import UNSET_BEFORE

    model = OmegaConf.to_container(cfg.model, resolve=True)
    model = {k: v for k, v in model.items() if v is not None or f"model.{k}" not in UNSET_BEFORE}
    model["vocab_size"] = int(data.tokenizer["vocab_size"])
    return model
