"""stage=sft: fine-tune the base model (sft.base, default the final model) on the sft_mix set, in full or with
LoRA (sft.lora); per-source dev loss on the fixed dev set, forgetting, and sample answers.

Reads ${run_dir}/final/model.pt and ${run_dir}/sft_mix/{train,dev}.jsonl; writes ${run_dir}/sft/model.pt and
${run_dir}/sft/eval.json (dev loss per source before and after, the pretraining held-out loss before and after:
forgetting, sample generations).
"""

from __future__ import annotations

import json

import torch
from omegaconf import DictConfig, OmegaConf

from doremi.config import settings
from doremi.config.errors import DoremiError
from doremi.config.settings import SftSettings, TrainerSettings
from doremi.data.tokenizer import load_saved
from doremi.pipeline.common import commit, heldout_for, is_main_process, load_prepared, say, stage_dir, start
from doremi.pipeline.sft_sets import check_set_format, load_base
from doremi.sft.tune import check_lora, encode, fine_tune, response_sums, steps_of
from doremi.store.files import write_atomic, write_json_atomic
from doremi.training.fitting import save_hf_beside
from doremi.training.model import build_model
from doremi.training.sft import generate
from doremi.training.train import device_for


def read_records(path) -> list[dict]:
    if not path.exists():
        raise DoremiError(f"{path} not found: run stage=sft_mix first (same run_dir=)")
    return [json.loads(line) for line in path.read_text().splitlines()]


def per_source(sums, counts, sources: list[str], names: list[str]) -> dict[str, float]:
    """Mean response-token loss of each source's chats."""
    out = {}
    for s in names:
        keep = [i for i, x in enumerate(sources) if x == s]
        if counts[keep].sum() > 0:
            out[s] = float(sums[keep].sum() / counts[keep].sum())
    return out


def heldout_average(model, heldout) -> float:
    from doremi.training.lm import heldout_losses

    losses = heldout_losses(model, heldout)
    return sum(losses.values()) / len(losses)


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    base, base_file = load_base(cfg, data, str(cfg.sft.base), "sft.base")
    check_lora(base["model_config"], cfg.sft.lora)
    out = start(cfg, "sft")
    if out is None:
        return
    sft, run_settings = settings.of(cfg, SftSettings), settings.of(cfg, TrainerSettings)
    check_set_format(stage_dir(cfg, "sft_mix"), "sft")
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    length = int(base["model_config"]["seq_len"])
    train = encode(tokenizer, read_records(stage_dir(cfg, "sft_mix") / "train.jsonl"), length)
    dev = encode(tokenizer, read_records(stage_dir(cfg, "sft_mix") / "dev.jsonl"), length)
    if not len(train):
        raise DoremiError(f"{stage_dir(cfg, 'sft_mix') / 'train.jsonl'} is empty: loosen sft.filters or add pools")
    cut = int((~train.masks[:, 1:].any(axis=1)).sum())  # the response begins after the model's sequence ends
    if cut == len(train):
        raise DoremiError(
            f"no chat in {stage_dir(cfg, 'sft_mix') / 'train.jsonl'} has a response token within the final model's "
            f"{length}-token sequences (model.seq_len): train the models with a longer model.seq_len, or keep "
            "shorter prompts (sft.filters)"
        )
    if cut:
        say(f"[sft] {cut} of {len(train)} chats have their whole response beyond {length} tokens: not trained on")
    sources = sorted(set(train.sources) | set(dev.sources))
    batch, steps = steps_of(len(train), sft.batch_size, sft.epochs)
    device = device_for(run_settings)  # dev losses and samples on the training GPU, where there is one
    original = build_model(base["model_config"])
    original.load_state_dict(base["state_dict"])
    original.to(device)
    heldout = heldout_for(cfg, data)
    before = per_source(*response_sums(original, dev), dev.sources, sources)
    forgetting_before = heldout_average(original, heldout)
    del original
    how = f"LoRA r={sft.lora.r}" if sft.lora.r else "full fine-tuning"
    say(
        f"[sft] {len(train)} chats, {sft.epochs} epochs = {steps} steps of {batch} ({how}, from {base_file}); "
        "dev loss before: " + ", ".join(f"{s} {v:.3f}" for s, v in before.items())
    )
    model = fine_tune(base, train, sft, run_settings, int(cfg.seed), out.tmp, "sft").to(device)
    after = per_source(*response_sums(model, dev), dev.sources, sources)
    forgetting_after = heldout_average(model, heldout)
    samples = [
        {
            "source": s,
            "prompt": m[0]["content"],
            "answer": generate(model, tokenizer, m[0]["content"], sft.max_new_tokens),
        }
        for s, m in list(zip(dev.sources, dev.messages))[: sft.samples]
    ]
    model.cpu()
    if is_main_process():
        record = {**base, "state_dict": model.state_dict(), "sft": OmegaConf.to_container(cfg.sft, resolve=True)}
        write_atomic(out.tmp / "model.pt", lambda tmp: torch.save(record, tmp))
    save_hf_beside(cfg, model, out.tmp / "hf", data)
    if is_main_process():
        write_json_atomic(
            out.tmp / "eval.json",
            {
                "unit": "nats/token (response tokens)",
                "examples": len(train),
                "steps": steps,
                "lora": OmegaConf.to_container(cfg.sft.lora, resolve=True) if sft.lora.r else None,
                "dev_set": "the fixed dev set of stage=sft_mix (held out of the pools before any selection)",
                "dev_loss_before": before,
                "dev_loss_after": after,
                "forgetting": {
                    "unit": "nats/token, average over the pretraining domains' held-out documents",
                    "before": forgetting_before,
                    "after": forgetting_after,
                    "increase": forgetting_after - forgetting_before,
                },
                "samples": samples,
            },
        )
    commit(out)
    say(
        "[sft] dev loss after: "
        + ", ".join(f"{s} {v:.3f}" for s, v in after.items())
        + f"; pretraining held-out loss {forgetting_before:.3f} -> {forgetting_after:.3f} (forgetting) -> {out.final}"
    )
