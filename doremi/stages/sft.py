"""stage=sft: fine-tune the final model on the sft_mix set; per-source dev loss and sample answers.

Reads ${run_dir}/final/model.pt and ${run_dir}/sft_mix/{train,dev}.jsonl; writes
${run_dir}/sft/model.pt and ${run_dir}/sft/eval.json (dev loss per source before and
after, sample generations).
"""

from __future__ import annotations

import json
import math

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger

from doremi.data.tokenizer import load_saved
from doremi.errors import DoremiError
from doremi.files import write_json_atomic
from doremi.lit.callbacks import Progress
from doremi.lit.sft import SFTModule, encode_chat, generate, loss_per_source
from doremi.stages.common import commit, load_checkpoint, load_prepared, say, stage_dir, start


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
    sft = cfg.sft
    tokenizer = load_saved(data.dir, data.tokenizer["kind"])
    length = int(final["model_config"]["seq_len"])
    train = read_rows(stage_dir(cfg, "sft_mix") / "train.jsonl", tokenizer, length)
    dev = read_rows(stage_dir(cfg, "sft_mix") / "dev.jsonl", tokenizer, length)
    if not train:
        raise DoremiError(f"{stage_dir(cfg, 'sft_mix') / 'train.jsonl'} is empty: loosen sft.filters or add pools")
    sources = sorted({r["source"] for r in train + dev})
    batch = min(int(sft.batch_size), len(train))
    steps = int(sft.epochs) * math.ceil(len(train) / batch)

    pl.seed_everything(int(cfg.seed), verbose=False)
    module = SFTModule(
        final["model_config"],
        sources,
        float(sft.lr),
        float(sft.min_lr_ratio),
        list(sft.betas),
        float(sft.weight_decay),
        steps,
        float(sft.dropout_top),
    )
    module.model.load_state_dict(final["state_dict"])
    before = loss_per_source(module.model, dev, sources)
    say(
        f"[sft] {len(train)} chats, {sft.epochs} epochs = {steps} steps of {batch}; dev loss before: "
        + ", ".join(f"{s} {v:.3f}" for s, v in before.items())
    )
    tensors = [{"tokens": torch.from_numpy(r["tokens"]), "mask": torch.from_numpy(r["mask"])} for r in train]
    loader = torch.utils.data.DataLoader(
        tensors, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(int(cfg.seed))
    )
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.trainer.grad_clip,
        logger=CSVLogger(str(out.tmp), name="logs", version=""),
        callbacks=[Progress("sft", steps, batch * length, int(cfg.trainer.progress_lines))],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=int(cfg.trainer.log_every),
    )
    trainer.fit(module, loader)
    after = loss_per_source(module.model, dev, sources)
    samples = [
        {
            "source": r["source"],
            "prompt": r["messages"][0]["content"],
            "answer": generate(module.model, tokenizer, r["messages"][0]["content"], int(sft.max_new_tokens)),
        }
        for r in dev[: int(sft.samples)]
    ]
    torch.save(
        {**final, "state_dict": module.model.state_dict(), "sft": OmegaConf.to_container(sft, resolve=True)},
        out.tmp / "model.pt",
    )
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
