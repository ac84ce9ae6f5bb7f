"""Proxy throughput with and without the reference-loss cache, against plain training.

All three train the same model (doremi/conf/model/tiny by default) for the same steps on the
same prepared demo data, through the same Lightning harness, in one run:

- plain:   the reference stage's training (next-token loss on the batches, no reference);
- proxy:   DoReMi's proxy, paying one reference forward per step;
- cached:  the proxy reading the reference's per-token losses from the float16 cache
           (built once beforehand; its build time is printed separately);
- resample: the proxy with dro.sampling=resample (each batch drawn with the current weights).

The physical bound without the cache is about 0.75x: a training step is one forward and
a backward (about two forwards), and the reference adds a forward.

Each is timed `--repeats` times, interleaved, and the fastest run counts (the machines
are noisy; the minimum is the least disturbed).

    python bench/bench_proxy.py [--steps 150] [--repeats 3] [model=small ...hydra overrides]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.methods.doremi.learning import train_proxy
from doremi.pipeline.common import load_checkpoint, load_prepared, quiet_lightning, stage_dir
from doremi.stages import run_stage
from doremi.training.fitting import fit_lm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args, overrides = parser.parse_known_args()
    quiet_lightning()
    with tempfile.TemporaryDirectory() as tmp:
        base = [
            f"run_dir={tmp}/run",
            f"trainer.max_steps={args.steps}",
            "trainer.progress_lines=1",
            "checkpoint.every=0",
            *overrides,
        ]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=base)
            cached_cfg = compose(config_name="config", overrides=[*base, "proxy.reference_cache=true"])
            resample_cfg = compose(config_name="config", overrides=[*base, "dro.sampling=resample"])
        for stage in ("prepare", "reference"):
            run_stage(compose_stage(base, stage))
        data = load_prepared(cfg)
        reference = load_checkpoint(stage_dir(cfg, "reference") / "model.pt", data, "stage=reference")
        k = len(data.domains)
        uniform = [1.0 / k] * k

        def timed(fn, *args) -> float:
            start = time.perf_counter()
            fn(*args)
            return time.perf_counter() - start

        out = Path(tmp)
        build = timed(lambda: train_proxy(cached_cfg, data, reference, out / "warm", "warm-up", uniform))
        runs = {
            "plain training": lambda r: fit_lm(cfg, data, uniform, cfg.reference, out / f"plain{r}", "plain"),
            "proxy": lambda r: train_proxy(cfg, data, reference, out / f"proxy{r}", "proxy", uniform),
            "proxy + cache": lambda r: train_proxy(cached_cfg, data, reference, out / f"cached{r}", "cached", uniform),
            "proxy resample": lambda r: train_proxy(
                resample_cfg, data, reference, out / f"resample{r}", "resample", uniform
            ),
        }
        seconds = {name: float("inf") for name in runs}
        for r in range(args.repeats):
            for name, run in runs.items():
                seconds[name] = min(seconds[name], timed(run, r))
    tokens = args.steps * int(cfg.proxy.batch_size) * int(cfg.model.seq_len)
    print(f"{args.steps} steps x {cfg.proxy.batch_size} x {cfg.model.seq_len} tokens ({tokens:,} tokens), {k} domains")
    plain = seconds["plain training"]
    print(f"fastest of {args.repeats} interleaved runs each")
    for name, s in seconds.items():
        print(f"{name:15s} {s:7.1f} s  {tokens / s:10,.0f} tok/s  {plain / s:5.2f}x plain")
    cached = seconds["proxy + cache"]
    print(f"cache build + one cached proxy run: {build:.1f} s (the build is {build - cached:.1f} s of it)")


def compose_stage(base: list[str], stage: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[*base, f"stage={stage}"])


if __name__ == "__main__":
    main()
