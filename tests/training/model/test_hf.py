"""model=hf (any transformers causal LM) and Hugging Face checkpoints of every trained model."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from doremi.__main__ import CONFIG_DIR
from doremi.config.errors import DoremiError
from doremi.data.tokenizer import ByteTokenizer, load_saved, train_bpe
from doremi.stages.cli import compose_checked, renamed
from doremi.training.model import build_model
from doremi.training.model.hf_checkpoint import save_hf
from doremi.training.shard import layer_stack
from tests.conftest import TINY, domains_override, synthetic_domains

TINY_CONFIGS = {
    "llama": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2},
    "qwen2": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                 "num_attention_heads": 4},
    "gpt2": {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4},
}  # fmt: skip


def same_logits(model, directory, vocab: int, seq_len: int = 16) -> float:
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(directory).eval()
    x = torch.randint(0, vocab, (2, seq_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((loaded(x).logits - model.eval()(x)).abs().max())


@pytest.mark.parametrize("arch", list(TINY_CONFIGS))
def test_transformers_architectures_train_and_save_loadable_checkpoints(tmp_path, arch):
    torch.manual_seed(0)
    model = build_model({"arch": "hf", "hf_config": TINY_CONFIGS[arch], "vocab_size": 257, "seq_len": 16})
    assert model.lm.config.model_type == arch and model.lm.config.vocab_size == 257
    stack = layer_stack(model)  # what trainer.strategy=fsdp shards layer by layer
    assert len(stack) == 2 and all(sum(p.numel() for p in layer.parameters()) > 32 * 64 for layer in stack)
    tokens = torch.randint(0, 257, (4, 17), generator=torch.Generator().manual_seed(1))
    losses = model.token_losses(tokens[:, :-1], tokens[:, 1:])
    assert losses.shape == (4, 16) and torch.isfinite(losses).all()
    assert abs(float(losses.mean()) - np.log(257)) < 0.5  # a fresh model is near uniform
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(20):
        loss = model.token_losses(tokens[:, :-1], tokens[:, 1:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < float(losses.mean()) - 1.0  # it learns the batch
    save_hf(model, tmp_path / "hf", tmp_path, "byte")
    assert (tmp_path / "hf" / "model.safetensors").exists()
    assert same_logits(model, tmp_path / "hf", 257) < 1e-5


def test_builtin_gpt_is_gpt2_with_exact_gelu_and_the_byte_tokenizer_loads(tmp_path):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    torch.manual_seed(0)
    gpt = build_model({"vocab_size": 257, "seq_len": 32, "n_layer": 2, "n_head": 4, "d_model": 64, "dropout": 0.0})
    save_hf(gpt, tmp_path / "hf", tmp_path, "byte")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["activation_function"] == "gelu"
    assert same_logits(gpt, tmp_path / "hf", 257, 32) < 1e-5
    from transformers import AutoModelForCausalLM

    assert isinstance(AutoModelForCausalLM.from_pretrained(tmp_path / "hf"), GPT2LMHeadModel)
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = "héllo wörld\n\t 日本語 <|x|> ~\x00"
    assert tok.encode(text) == ByteTokenizer().encode_batch([text])[0].tolist()
    assert tok.eos_token_id == ByteTokenizer.eod_id and tok.decode(tok.encode(text)) == text


def test_trained_bpe_tokenizer_loads_with_autotokenizer(tmp_path):
    from transformers import AutoTokenizer

    texts = [f"def f{i}(x):\n    return x * {i} + {i * i}\n" for i in range(300)]
    bpe = train_bpe(texts, 300)
    bpe.save(tmp_path)
    ours = load_saved(tmp_path, "bpe")
    gpt = build_model(
        {"vocab_size": ours.vocab_size, "seq_len": 16, "n_layer": 1, "n_head": 2, "d_model": 32, "dropout": 0.0}
    )
    save_hf(gpt, tmp_path / "hf", tmp_path, "bpe")
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    sample = "def g(y):\n    return y * 7 + 49\n"
    assert tok.encode(sample) == ours.encode_batch([sample])[0].tolist()
    assert tok.eos_token_id == ours.eod_id


def test_presets_have_the_published_sizes():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=hf-120m"])
    from omegaconf import OmegaConf

    settings = {**OmegaConf.to_container(cfg.model), "vocab_size": 50257}
    # GPT-2 small's published size, which the DoReMi repo's 120M shape is
    assert build_model(settings).num_params() == 124_439_808


def test_hf_config_from_a_config_json_and_errors_name_the_key(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY_CONFIGS["llama"]))
    model = build_model({"arch": "hf", "hf_config": str(path), "vocab_size": 100, "seq_len": 8})
    assert model.lm.config.hidden_size == 32 and model.lm.config.vocab_size == 100
    with pytest.raises(DoremiError, match="model.hf_config needs a model_type"):
        build_model({"arch": "hf", "hf_config": {"hidden_size": 8}, "vocab_size": 10, "seq_len": 8})
    with pytest.raises(DoremiError, match="model.init_from=.*not a transformers causal LM config"):
        build_model({"arch": "hf", "init_from": str(tmp_path / "nothing"), "vocab_size": 10, "seq_len": 8})
    llama = {"arch": "hf", "hf_config": TINY_CONFIGS["llama"], "vocab_size": 10, "seq_len": 8}
    with pytest.raises(DoremiError, match=r"could not build the model \(.*bogus.*\); check model.attn_implementation$"):
        build_model({**llama, "attn_implementation": "bogus"})
    if importlib.util.find_spec("flash_attn") is None:  # a kernel whose package is missing: named, with the way out
        with pytest.raises(DoremiError, match="^model.attn_implementation=flash_attention_2: .*use model.attn_impl"):
            build_model({**llama, "attn_implementation": "flash_attention_2"})


def hf_cfg(tmp_path, *overrides):
    """A tiny pipeline config with model=hf (the built-in GPT's TINY model keys left out)."""
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=120, seed=2)
    base = [f"run_dir={tmp_path / 'run'}", f"mixtures_dir={tmp_path / 'mixtures'}", f"reports_dir={tmp_path / 'rep'}"]
    tiny = [o for o in TINY if not o.startswith("model.")]
    overrides = [*base, *tiny, "model=hf", "model.seq_len=32", domains_override(files), *overrides]
    return compose_checked(renamed(overrides))  # as the command line reads them


def test_command_line_hf_configs_as_the_readme_writes_them(tmp_path):
    from transformers import GPT2LMHeadModel, Qwen2ForCausalLM

    qwen = "model.hf_config={model_type: qwen2, hidden_size: 64, intermediate_size: 128, num_attention_heads: 4}"
    gpt2 = "+model.hf_config={model_type: gpt2, n_embd: 32, n_layer: 3, n_head: 4}"
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIGS["gpt_neox"]))
    merged = hf_cfg(tmp_path, qwen).model  # merged into the preset's Llama keys
    replaced = hf_cfg(tmp_path, "~model.hf_config", gpt2).model
    from_file = hf_cfg(tmp_path, f"model.hf_config={tmp_path / 'config.json'}").model
    built = [build_model({**OmegaConf.to_container(m), "vocab_size": 257}).lm for m in (merged, replaced, from_file)]
    assert isinstance(built[0], Qwen2ForCausalLM) and built[0].config.num_hidden_layers == 2  # the preset's
    assert isinstance(built[1], GPT2LMHeadModel) and built[1].config.n_layer == 3
    assert built[2].config.model_type == "gpt_neox" and built[2].config.hidden_size == 32


@pytest.mark.slow
def test_pipeline_with_a_pretrained_start_saves_every_model_as_hf(tmp_path):
    from transformers import AutoModelForCausalLM

    from doremi.stages import run_stage

    torch.manual_seed(3)
    start = build_model({"arch": "hf", "hf_config": TINY_CONFIGS["qwen2"], "vocab_size": 257, "seq_len": 64})
    save_hf(start, tmp_path / "pretrained", tmp_path, "byte")  # "a model the user already has"
    cfg = hf_cfg(tmp_path, f"model.init_from={tmp_path / 'pretrained'}", "stage=all")
    begun = build_model({**dict(cfg.model), "vocab_size": 257})
    for a, b in zip(begun.parameters(), start.parameters()):
        assert torch.equal(a, b)  # init_from starts from the checkpoint's weights
    run_stage(cfg)
    run = tmp_path / "run"
    for where in ("reference/hf", "proxy/hf", "final/doremi/seed-0/hf", "final/stratified/seed-0/hf"):
        loaded = AutoModelForCausalLM.from_pretrained(run / where)
        assert loaded.config.model_type == "qwen2", where
    trained = AutoModelForCausalLM.from_pretrained(run / "reference" / "hf")
    moved = sum(float((a - b).abs().sum()) for a, b in zip(trained.parameters(), start.lm.parameters()))
    assert moved > 0  # trained from the start, not left at it
    weights = json.loads((tmp_path / "mixtures" / "demo.json").read_text())["weights"]
    assert set(weights) == {"numbers", "prose"} and abs(sum(weights.values()) - 1) < 1e-9
