"""Any `transformers` causal LM as the reference, proxy and final model (`model=hf`).

The architecture comes from `model.hf_config`: a dict of settings with a `model_type`
(`{model_type: llama, hidden_size: 256, ...}`), a local `config.json` (or a folder holding
one), or a hub name. `model.init_from` starts from a pretrained checkpoint instead of a
random initialization (a local Hugging Face folder or a hub name), for learning how much
of a new domain to mix into continued pretraining. The model is used exactly like the
built-in GPT: logits for token ids, per-token losses in nats.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from doremi.config.errors import DoremiError, first_line

# Keys naming the longest sequence, by architecture family (GPT-2 calls it n_positions).
POSITION_KEYS = ("max_position_embeddings", "n_positions")


def hf_config(settings: dict):
    """A `transformers` PretrainedConfig from model.hf_config / model.init_from, with the run's vocabulary and
    sequence length."""
    from transformers import AutoConfig

    source, init_from = settings.get("hf_config"), settings.get("init_from")
    try:
        if init_from:
            config = AutoConfig.from_pretrained(str(init_from))
        elif isinstance(source, dict):
            values = dict(source)
            model_type = values.pop("model_type", None)
            if not model_type:
                raise DoremiError("model.hf_config needs a model_type (llama, qwen2, gpt_neox, gpt2, ...)")
            config = AutoConfig.for_model(model_type, **values)
        elif isinstance(source, str) and source:
            path = Path(source)
            if path.suffix == ".json":
                values = json.loads(path.read_text())
                config = AutoConfig.for_model(values.pop("model_type"), **values)
            else:
                config = AutoConfig.from_pretrained(source)  # a folder with config.json, or a hub name
        else:
            raise DoremiError("model=hf needs model.hf_config (a dict, a config.json or a hub name) or model.init_from")
    except DoremiError:
        raise
    except (OSError, ValueError, KeyError) as err:
        what = f"model.init_from={init_from}" if init_from else f"model.hf_config={source}"
        raise DoremiError(f"{what}: not a transformers causal LM config ({err}); check the name or path") from None
    vocab, seq_len = int(settings["vocab_size"]), int(settings["seq_len"])
    if init_from:
        if vocab > config.vocab_size:
            raise DoremiError(
                f"model.init_from={init_from} has {config.vocab_size} token ids but the prepared data uses {vocab}; "
                f"prepare with that model's tokenizer (tokenizer=pretrained tokenizer.path={init_from})"
            )
        longest = next((getattr(config, k) for k in POSITION_KEYS if getattr(config, k, None)), None)
        if longest is not None and seq_len > longest:
            raise DoremiError(f"model.seq_len={seq_len} is longer than model.init_from's {longest} positions")
    else:
        config.vocab_size = vocab
        for key in POSITION_KEYS:
            if hasattr(config, key):
                setattr(config, key, max(int(getattr(config, key) or 0), seq_len))
    return config


class HFCausalLM(nn.Module):
    """A `transformers` causal LM behind the built-in GPT's interface (forward -> logits, token_losses)."""

    def __init__(self, settings: dict):
        super().__init__()
        from transformers import AutoModelForCausalLM

        config = hf_config(settings)
        attention = settings.get("attn_implementation") or "sdpa"
        init_from = settings.get("init_from")
        try:
            if init_from:
                self.lm = AutoModelForCausalLM.from_pretrained(str(init_from), attn_implementation=attention)
            else:
                self.lm = AutoModelForCausalLM.from_config(config, attn_implementation=attention)
        except ImportError as err:  # an attention kernel whose package is missing (flash-attn)
            raise DoremiError(
                f"model.attn_implementation={attention}: {first_line(err)} "
                "Install its package, or use model.attn_implementation=sdpa"
            ) from None
        except (OSError, ValueError) as err:
            key = "model.attn_implementation" if "attn_implementation" in str(err) else "model.hf_config"
            raise DoremiError(f"model=hf: could not build the model ({err}); check {key}") from None
        self.lm.float()  # trained in float32; trainer.precision=bf16-mixed autocasts
        self.cfg = SimpleNamespace(seq_len=int(settings["seq_len"]), vocab_size=int(settings["vocab_size"]))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, seq, vocab) for token ids (batch, seq)."""
        return self.lm(input_ids=idx, use_cache=False).logits

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The last layer's states (batch, seq, hidden)."""
        return self.lm(input_ids=idx, use_cache=False, output_hidden_states=True).hidden_states[-1]

    def add_lora(self, r: int, alpha: float, dropout: float, target_modules) -> None:
        """Wrap the transformers model in peft's LoRA: only the adapters train (sft.lora)."""
        from doremi.config.extras import needs

        peft = needs("peft", "sft", "sft.lora (LoRA)")
        LoraConfig, get_peft_model = peft.LoraConfig, peft.get_peft_model  # noqa: N806

        config = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            task_type="CAUSAL_LM",
            target_modules=list(target_modules) if target_modules else None,
        )
        try:
            self.lm = get_peft_model(self.lm, config)
        except ValueError as err:
            raise DoremiError(
                f"sft.lora: peft cannot adapt this model ({first_line(err)}); set sft.lora.target_modules"
            ) from None

    def merge_lora(self) -> None:
        """Fold LoRA's adapters into the weights: a plain transformers model again (saved and scored as one)."""
        if hasattr(self.lm, "merge_and_unload"):
            self.lm = self.lm.merge_and_unload()

    def token_losses(self, idx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-token cross-entropy in nats, shape (batch, seq)."""
        logits = self(idx)
        return F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), reduction="none").view(target.shape)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights counted once
