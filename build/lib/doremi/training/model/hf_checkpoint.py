"""Trained models saved as Hugging Face checkpoints: `AutoModelForCausalLM.from_pretrained(dir)`
and `AutoTokenizer.from_pretrained(dir)` load them, and lm-evaluation-harness runs on them.

The built-in GPT is exactly `GPT2LMHeadModel` with `activation_function="gelu"` (exact GELU,
learned positions, pre-LayerNorm blocks, tied embeddings); its `nn.Linear` weights become
GPT-2's `Conv1D` weights transposed. A `model=hf` model saves itself. The tokenizer goes
beside it as a `tokenizer.json` that `transformers` reads: the trained BPE (or pretrained
tokenizer) as it is, and the byte tokenizer as a byte-level BPE with no merges whose ids are
the bytes 0..255 and 256 for the end of a document, exactly as doremi encodes.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from doremi.data.tokenizer import EOD_TOKEN
from doremi.store.files import staged_dir
from doremi.training.model.gpt import GPT


def gpt2_config(gpt: GPT):
    from transformers import GPT2Config

    c = gpt.cfg
    return GPT2Config(
        vocab_size=c.vocab_size,
        n_positions=c.seq_len,
        n_embd=c.d_model,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_inner=4 * c.d_model,
        activation_function="gelu",
        resid_pdrop=c.dropout,
        embd_pdrop=c.dropout,
        attn_pdrop=c.dropout,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
    )


def gpt2_state(gpt: GPT) -> dict:
    """The built-in GPT's weights under GPT2LMHeadModel's names (Conv1D weights are (in, out))."""
    state = gpt.state_dict()
    out = {
        "transformer.wte.weight": state["tok_emb.weight"],
        "transformer.wpe.weight": state["pos_emb.weight"],
        "transformer.ln_f.weight": state["ln_f.weight"],
        "transformer.ln_f.bias": state["ln_f.bias"],
        "lm_head.weight": state["head.weight"],
    }
    linear = {"attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj", "mlp.0": "mlp.c_fc", "mlp.2": "mlp.c_proj"}
    for i in range(gpt.cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        for norm_ours, norm_theirs in (("ln1", "ln_1"), ("ln2", "ln_2")):
            for part in ("weight", "bias"):
                out[f"{theirs}{norm_theirs}.{part}"] = state[f"{ours}{norm_ours}.{part}"]
        for name_ours, name_theirs in linear.items():
            out[f"{theirs}{name_theirs}.weight"] = state[f"{ours}{name_ours}.weight"].t().contiguous()
            out[f"{theirs}{name_theirs}.bias"] = state[f"{ours}{name_ours}.bias"]
    return out


def as_transformers(model: nn.Module):
    """The `transformers` model for a trained doremi model (the built-in GPT converted, an hf model as is)."""
    if not isinstance(model, GPT):
        return model.lm
    from transformers import GPT2LMHeadModel

    converted = GPT2LMHeadModel(gpt2_config(model))
    missing, unexpected = converted.load_state_dict(gpt2_state(model), strict=False)
    missing = [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias"))]
    if missing or unexpected:
        raise RuntimeError(f"GPT -> GPT2LMHeadModel: missing {missing}, unexpected {unexpected}")
    return converted


def byte_level_chars() -> list[str]:
    """The character byte-level BPE (GPT-2's scheme) spells each byte 0..255 with: printable Latin-1 bytes are
    themselves, the others take the code points from 256 up, in byte order."""
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(ord("¡"), ord("¬") + 1)) | set(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def byte_tokenizer_json():
    """doremi's byte tokenizer as a `tokenizers` Tokenizer: ids 0..255 are the UTF-8 bytes, 256 ends a document."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {char: b for b, char in enumerate(byte_level_chars())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOD_TOKEN])
    return tok


def hf_tokenizer(tokenizer_dir: Path, kind: str):
    """The run's tokenizer as a `transformers` fast tokenizer (end of document as its eos token)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = byte_tokenizer_json() if kind == "byte" else Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    if tok.token_to_id(EOD_TOKEN) is None:
        tok.add_special_tokens([EOD_TOKEN])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOD_TOKEN, bos_token=EOD_TOKEN, pad_token=EOD_TOKEN)


def save_hf(model: nn.Module, out_dir: Path, tokenizer_dir: Path, tokenizer_kind: str) -> Path:
    """`out_dir` as a Hugging Face checkpoint (safetensors, config.json, tokenizer); written beside it and renamed,
    so a reader never finds half a checkpoint."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    lm = as_transformers(model)
    tokenizer = hf_tokenizer(tokenizer_dir, tokenizer_kind)
    lm.config.eos_token_id = lm.config.bos_token_id = tokenizer.eos_token_id
    with staged_dir(out_dir) as tmp:
        lm.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)
