"""What online mixing costs: tokens/s of the final run with ODM's callback (doremi.methods.online) and with Aioli's
(doremi.methods.aioli.callback) against the same run on fixed weights, measured in one process, alternating, fastest of
`--repeats` each. Aioli's LearnParams steps are training steps (inside the budget): its cost is the probe
evaluations (k + 1 per round), counted and timed.

Goal (issue 24): within 2% (ADO reports 0.4% wall-clock overhead). The per-domain training losses it
reads are computed in every training step anyway (doremi.training.lm); the callback adds a sum over
processes, the bandit's update every `online.every` steps and a schedule line.

    python bench/bench_online.py                    # the demo corpus, its default model, 300 steps
    python bench/bench_online.py --steps 100 --every 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from doremi.__main__ import CONFIG_DIR
from doremi.compare.mixtures import probe_rows
from doremi.data.packing import PackedData
from doremi.methods.aioli.callback import AioliMixing
from doremi.methods.odm.callback import OnlineMixing
from doremi.pipeline.common import quiet_lightning
from doremi.stages import run_stage
from doremi.training.fitting import fit_lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet_lightning()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        overrides = [f"run_dir={run_dir}", f"trainer.max_steps={args.steps}", "trainer.progress_lines=0",
                     "trainer.hf_checkpoints=false", "checkpoint.every=0"]  # fmt: skip
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, "stage=prepare"])
        run_stage(cfg)
        data = PackedData(run_dir / "prepare")
        k = len(data.domains)
        tokens = args.steps * int(cfg.final.batch_size) * data.seq_len
        best = {"fixed": float("inf"), "odm": float("inf"), "aioli": float("inf")}
        callback_seconds, probes = {"odm": 0.0, "aioli": 0.0}, 0
        a = cfg.aioli
        settings = {key: a[key] for key in ("update_steps", "lp_rounds", "lp_steps", "eta", "one_hot_factor", "ema")}
        for r in range(args.repeats):
            for name in ("fixed", "odm", "aioli"):
                callbacks = None
                if name == "odm":
                    callbacks = [OnlineMixing(data.domains, args.every, 0.9, Path(tmp) / f"schedule-{r}.jsonl")]
                if name == "aioli":
                    probe = probe_rows(data, int(a.probe_sequences), 0)
                    callbacks = [AioliMixing(data.domains, settings, Path(tmp) / f"aioli-{r}.jsonl", 0, probe)]
                started = time.perf_counter()
                fit_lm(cfg, data, [1 / k] * k, cfg.final, Path(tmp) / f"{name}-{r}", f"{name}:{r}", callbacks=callbacks)
                best[name] = min(best[name], time.perf_counter() - started)
                if callbacks:
                    callback_seconds[name] = max(callback_seconds[name], callbacks[0].seconds)
                if name == "aioli":
                    probes = callbacks[0].probe_evaluations
    fixed, odm, aioli = (tokens / best[n] for n in ("fixed", "odm", "aioli"))
    print(f"\n{args.steps} steps of {int(cfg.final.batch_size)} x {data.seq_len} tokens, fastest of {args.repeats}:")
    print(f"  fixed weights   {fixed:>10,.0f} tok/s")
    print(
        f"  odm (every {args.every:>3}) {odm:>10,.0f} tok/s   ratio {odm / fixed:.3f}  (overhead {1 - odm / fixed:+.1%})"
    )
    print(
        f"  aioli           {aioli:>10,.0f} tok/s   ratio {aioli / fixed:.3f}  (overhead {1 - aioli / fixed:+.1%}; "
        f"{probes} probe evaluations of {int(a.probe_sequences)} sequences per domain)"
    )
    print(f"  time inside the callbacks: odm {callback_seconds['odm']:.3f} s of {best['odm']:.1f} s, "
          f"aioli {callback_seconds['aioli']:.3f} s of {best['aioli']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
