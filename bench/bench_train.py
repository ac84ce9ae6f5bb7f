"""Training throughput (tokens/s) and model FLOPs utilization (MFU) of the stages' training, against a
plain PyTorch loop of the same model, measured in the same run.

Four loops train the same model (any model= preset) on batches of the same shape with the same
settings (trainer.precision, trainer.compile, AdamW fused on GPUs, gradient clipping):

- plain LM:   a hand-written loop on random tokens already on the device: forward, backward, clip, step;
- LM:         the reference and final stages' training: LMModule and the mixture sampler through the
              Lightning harness (doremi.training.train.fit: progress lines, logger, non-finite checks);
- plain DRO:  the hand-written loop plus a frozen reference's forward, the per-domain excess losses,
              an exponentiated-gradient weight update and the weighted loss;
- proxy:      the proxy stage's Group DRO (doremi.methods.doremi.group_dro.train_group_dro: the exact update,
              exact per-domain sums across processes, the trajectory file).

Rates count the steps after --warmup (compilation and first allocations excluded; the GPU is
synchronized at both marks). Each loop runs --repeats times, interleaved; the fastest counts.
FLOPs per trained token: 6N + 12·L·d·T (N the parameters that multiply: embedding lookups
excluded, a tied output head included; the attention term as in PaLM, Chowdhery et al. 2022,
appendix B), plus 2N + 4·L·d·T for the reference's forward in the DRO loops. MFU divides the
achieved FLOP/s by the device's dense bf16 peak from NVIDIA's data sheets (H100 and H200 SXM
989 TFLOP/s, A100 312); elsewhere pass --peak-tflops.

    python bench/bench_train.py                      # the tiny model on this machine's CPU
    python bench/bench_train.py model=hf-120m trainer.precision=bf16-mixed trainer.compile=true \\
        tokenizer=bpe tokenizer.vocab_size=32000 model.seq_len=1024 trainer.batch_size=32 --steps 60
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from doremi.__main__ import CONFIG_DIR
from doremi.config import settings
from doremi.config.settings import DroSettings, OptimSettings, TrainerSettings
from doremi.data.loaders import MixtureDataModule
from doremi.methods.doremi.group_dro import train_group_dro
from doremi.pipeline.common import load_prepared, model_config, quiet_lightning
from doremi.stages import run_stage
from doremi.training.lm import LMModule, maybe_compile
from doremi.training.model import build_model, describe
from doremi.training.train import fit

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def multiplying_params(model: nn.Module) -> int:
    """Parameters that take part in matrix products: all but embedding lookups, plus a head tied to one."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    n = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    head = model.lm.get_output_embeddings() if hasattr(model, "lm") else model.head
    return n + (head.weight.numel() if id(head.weight) in embeddings else 0)


def flops_per_token(model: nn.Module, seq_len: int, with_reference: bool) -> float:
    if hasattr(model, "lm"):
        layers, width = model.lm.config.num_hidden_layers, model.lm.config.hidden_size
    else:
        layers, width = model.cfg.n_layer, model.cfg.d_model
    n = multiplying_params(model)
    train = 6 * n + 12 * layers * width * seq_len
    return train + (2 * n + 4 * layers * width * seq_len if with_reference else 0)


def peak_tflops(given: float | None) -> float | None:
    if given or not torch.cuda.is_available():
        return given
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


class Clock(pl.Callback):
    """Times the optimizer steps after the first `warmup`."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.marks: dict[int, float] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self.warmup and step not in self.marks or step == trainer.max_steps:
            sync()
            self.marks[step] = time.perf_counter()

    def seconds(self, steps: int) -> float:
        return self.marks[steps] - self.marks[self.warmup]


def plain_loop(cfg, model_cfg: dict, k: int, steps: int, warmup: int, dro: bool) -> float:
    """Seconds for steps warmup+1..steps of a hand-written loop (see the module's docstring)."""
    run, optim = settings.of(cfg, TrainerSettings), settings.of(cfg, OptimSettings)
    device = torch.device("cuda" if torch.cuda.is_available() and run.accelerator != "cpu" else "cpu")
    torch.manual_seed(0)
    model = build_model(model_cfg).to(device)
    maybe_compile(model, run.compile)
    reference = build_model(model_cfg).to(device).eval().requires_grad_(False) if dro else None
    if reference is not None:
        maybe_compile(reference, run.compile)
    opt = torch.optim.AdamW(
        model.parameters(), lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay,
        fused=device.type == "cuda",
    )  # fmt: skip
    batch, seq = int(cfg.trainer.batch_size), int(model_cfg["seq_len"])
    tokens = torch.randint(0, int(model_cfg["vocab_size"]), (batch, seq + 1), device=device)
    x, y = tokens[:, :-1], tokens[:, 1:]
    domain = torch.arange(batch, device=device) % k
    log_weights = torch.full((k,), -float(torch.log(torch.tensor(float(k)))), device=device)
    bf16 = str(run.precision).startswith("bf16")
    for step in range(steps):
        if step == warmup:
            sync()
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            losses = model.token_losses(x, y)
            if reference is None:
                loss = losses.mean()
            else:
                with torch.no_grad():
                    excess = (losses.detach() - reference.token_losses(x, y)).clamp_min(0).sum(1)
                    per_domain = torch.zeros(k, device=device).index_add_(0, domain, excess)
                    log_weights = torch.log_softmax(log_weights + per_domain / (seq * batch / k), 0)
                    weights = 0.999 * log_weights.exp() + 0.001 / k
                loss = (losses.sum(1) * weights[domain]).sum() / (seq * batch / k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), run.grad_clip)
        opt.step()
    sync()
    return time.perf_counter() - start


def lightning_loop(cfg, data, steps: int, warmup: int, dro: bool, out: Path) -> float:
    """Seconds for steps warmup+1..steps of the stages' own training (see the module's docstring)."""
    run, optim = settings.of(cfg, TrainerSettings), settings.of(cfg, OptimSettings).as_dict()
    k, batch = len(data.domains), int(cfg.trainer.batch_size)
    uniform = [1.0 / k] * k
    batches = MixtureDataModule(data, uniform, batch, 0, micro_batches=run.accumulate_grad_batches)
    clock = Clock(warmup)
    model_cfg = model_config(cfg, data)
    if dro:
        train_group_dro(
            model=model_cfg, domains=data.domains, optim=optim, steps=steps, dro=settings.of(cfg, DroSettings),
            run=run, datamodule=batches, reference_state=build_model(model_cfg).state_dict(), out_dir=out,
            label="proxy", seed=0, callbacks=[clock],
        )  # fmt: skip
    else:
        pl.seed_everything(0, verbose=False)
        module = LMModule(model_cfg, data.domains, optim, steps, run.accumulate_grad_batches)
        maybe_compile(module.model, run.compile, per_layer=run.strategy == "fsdp")
        fit(module, batches, run, out, "LM", steps, callbacks=[clock])
    return clock.seconds(steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args, overrides = parser.parse_known_args()
    quiet_lightning()
    with tempfile.TemporaryDirectory() as tmp:
        base = [f"run_dir={tmp}/run", "trainer.progress_lines=1", "checkpoint.every=0", *overrides]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=base)
            run_stage(compose(config_name="config", overrides=[*base, "stage=prepare"]))
        data = load_prepared(cfg)
        model_cfg = model_config(cfg, data)
        model = build_model(model_cfg)
        k, batch, seq = len(data.domains), int(cfg.trainer.batch_size), int(model_cfg["seq_len"])
        loops = {
            "plain LM loop": lambda r: plain_loop(cfg, model_cfg, k, args.steps, args.warmup, dro=False),
            "LM (reference, final)": lambda r: lightning_loop(cfg, data, args.steps, args.warmup, False, Path(tmp) / f"lm{r}"),
            "plain DRO loop": lambda r: plain_loop(cfg, model_cfg, k, args.steps, args.warmup, dro=True),
            "proxy (Group DRO)": lambda r: lightning_loop(cfg, data, args.steps, args.warmup, True, Path(tmp) / f"proxy{r}"),
        }  # fmt: skip
        seconds = {name: float("inf") for name in loops}
        memory = {name: 0.0 for name in loops}
        for r in range(args.repeats):
            for name, loop in loops.items():
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                seconds[name] = min(seconds[name], loop(r))
                if torch.cuda.is_available():
                    memory[name] = torch.cuda.max_memory_allocated() / 2**30
    peak = peak_tflops(args.peak_tflops)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device}; peak {f'{peak:g} TFLOP/s' if peak else 'unknown (--peak-tflops for MFU)'}")
    print(
        f"model: {describe(model)}; {seq} tokens x {batch} sequences per step; precision {cfg.trainer.precision}; "
        f"compile {cfg.trainer.compile}; {args.steps - args.warmup} timed steps after {args.warmup}, "
        f"fastest of {args.repeats}"
    )
    tokens = (args.steps - args.warmup) * batch * seq
    rows = []
    print(f"{'loop':<24}{'tokens/s':>12}{'TFLOP/s':>10}{'MFU':>8}{'x plain':>9}{'GiB':>7}")
    for name, spent in seconds.items():
        rate = tokens / spent
        tflops = rate * flops_per_token(model, seq, "DRO" in name or "proxy" in name) / 1e12
        plain = seconds["plain DRO loop" if "DRO" in name or "proxy" in name else "plain LM loop"]
        row = {"loop": name, "tokens_per_s": rate, "tflops": tflops, "mfu": tflops / peak if peak else None,
               "vs_plain": plain / spent, "peak_gib": memory[name] or None}  # fmt: skip
        rows.append(row)
        mfu = f"{row['mfu']:.1%}" if peak else "-"
        gib = f"{memory[name]:.1f}" if memory[name] else "-"
        print(f"{name:<24}{rate:>12,.0f}{tflops:>10.3f}{mfu:>8}{row['vs_plain']:>9.2f}{gib:>7}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "peak_tflops": peak, "overrides": overrides, "rows": rows}))


if __name__ == "__main__":
    main()
