"""stage=sft: fine-tune the final model on the sft_mix set; per-source dev loss and sample answers.

Reads ${run_dir}/final/model.pt and ${run_dir}/sft_mix/{train,dev}.jsonl; writes
${run_dir}/sft/model.pt and ${run_dir}/sft/eval.json (dev loss per source before and
after, sample generations).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from doremi import settings
from doremi.data.loaders import ChatData
from doremi.data.tokenizer import load_saved
from doremi.errors import DoremiError
from doremi.files import write_atomic, write_json_atomic
from doremi.lit.sft import SFTModule, encode_chat, generate, loss_per_source
from doremi.lit.shard import whole
from doremi.lit.train import device_for, fit
from doremi.model import build_model
from doremi.settings import SftSettings, TrainerSettings
from doremi.stages.common import (
    commit,
    is_main_process,
    load_checkpoint,
    load_prepared,
    say,
    stage_dir,
    start,
)
from doremi.stages.lm import save_hf_beside


def read_rows(path, tokenizer, length: int) -> list[dict]:
    if not path.exists():
        raise DoremiError(f"{path} not found: run stage=sft_mix first (same run_dir=)")
    rows = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        tokens, mask = encode_chat(tokenizer, record["messages"], length)
        rows.append({"tokens": tokens, "mask": mask, "source": record["source"], "messages": record["messages"]})
    return rows


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    final = load_checkpoint(stage_dir(cfg, "final") / "model.pt", data, "stage=final")
    out = start(cfg, "sft")
    if out is None:
        return
    sft, run_settings = settings.of(cfg, SftSettings), settings.of(cfg, TrainerSettings)
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    length = int(final["model_config"]["seq_len"])
    train = read_rows(stage_dir(cfg, "sft_mix") / "train.jsonl", tokenizer, length)
    dev = read_rows(stage_dir(cfg, "sft_mix") / "dev.jsonl", tokenizer, length)
    if not train:
        raise DoremiError(f"{stage_dir(cfg, 'sft_mix') / 'train.jsonl'} is empty: loosen sft.filters or add pools")
    cut = sum(not r["mask"][1:].any() for r in train)  # the response begins after the model's sequence ends
    if cut == len(train):
        raise DoremiError(
            f"no chat in {stage_dir(cfg, 'sft_mix') / 'train.jsonl'} has a response token within the final model's "
            f"{length}-token sequences (model.seq_len): train the models with a longer model.seq_len, or keep "
            "shorter prompts (sft.filters)"
        )
    if cut:
        say(f"[sft] {cut} of {len(train)} chats have their whole response beyond {length} tokens: not trained on")
    sources = sorted({r["source"] for r in train + dev})
    batch = min(sft.batch_size, len(train))
    steps = sft.epochs * math.ceil(len(train) / batch)

    pl.seed_everything(int(cfg.seed), verbose=False)
    module = SFTModule(
        final["model_config"],
        sources,
        sft.lr,
        sft.min_lr_ratio,
        list(sft.betas),
        sft.weight_decay,
        steps,
        sft.dropout_top,
        run_settings.accumulate_grad_batches,
    )
    module.model.load_state_dict(final["state_dict"])
    device = device_for(run_settings)  # dev losses and samples on the training GPU, where there is one
    before = loss_per_source(module.model.to(device), dev, sources)
    say(
        f"[sft] {len(train)} chats, {sft.epochs} epochs = {steps} steps of {batch}; dev loss before: "
        + ", ".join(f"{s} {v:.3f}" for s, v in before.items())
    )
    # each source's chats in proportion to its share of the set: every chat once per epoch, in a seeded order
    by_source: dict[str, list[dict]] = {}
    for r in train:
        by_source.setdefault(r["source"], []).append(r)
    rows = [by_source[s] for s in sources if s in by_source]
    chats = ChatData(
        [np.stack([r["tokens"] for r in group]) for group in rows],
        [np.stack([r["mask"] for r in group]) for group in rows],
        batch,
        int(cfg.seed),
        weights=[len(group) / len(train) for group in rows],
        micro_batches=run_settings.accumulate_grad_batches,
    )
    fit(module, chats, run_settings, out.tmp, "sft", steps)
    model = whole(module.model, lambda: build_model(final["model_config"])).to(device)  # gathered under fsdp
    after = loss_per_source(model, dev, sources)
    samples = [
        {
            "source": r["source"],
            "prompt": r["messages"][0]["content"],
            "answer": generate(model, tokenizer, r["messages"][0]["content"], sft.max_new_tokens),
        }
        for r in dev[: sft.samples]
    ]
    model.cpu()
    if is_main_process():
        state = model.state_dict()
        record = {**final, "state_dict": state, "sft": OmegaConf.to_container(cfg.sft, resolve=True)}
        write_atomic(out.tmp / "model.pt", lambda tmp: torch.save(record, tmp))
    save_hf_beside(cfg, model, out.tmp / "hf", data)
    if is_main_process():
        write_json_atomic(
            out.tmp / "eval.json",
            {
                "unit": "nats/token (response tokens)",
                "examples": len(train),
                "steps": steps,
                "dev_loss_before": before,
                "dev_loss_after": after,
                "samples": samples,
            },
        )
    commit(out)
    say("[sft] dev loss after: " + ", ".join(f"{s} {v:.3f}" for s, v in after.items()) + f" -> {out.final}")
