"""stage=sft_mix: a LIMA-style SFT set from pools of instruction data.

pools -> the fixed dev set held out by hash, per source, before any filter (doremi.sft.devset) -> the SFT set
method `sft.method` (default lima: quality filters, exact and near dedup, quotas per source, temperature
sampling across sub-categories; `sft.mixture=learned` learns the quotas: method learned) -> train.jsonl,
dev.jsonl, sources/<source>.jsonl, manifest.json, and exports for LLaMA-Factory, TRL and Axolotl.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from doremi.config.errors import DoremiError
from doremi.pipeline.common import commit, load_prepared, say, start
from doremi.pipeline.sft_sets import check_budget, context, pools_and_dev, write_set
from doremi.sft.methods import resolve


def method_name(cfg: DictConfig) -> str:
    """sft.method, with sft.mixture=learned (the older way to ask for learned quotas) meaning `learned`."""
    return "learned" if cfg.sft.mixture == "learned" else str(cfg.sft.method)


def run(cfg: DictConfig) -> None:
    sft = cfg.sft
    method = resolve(method_name(cfg))
    learned = method.learns_quotas
    published = Path(cfg.mixtures_dir) / f"{cfg.name}-sft.json"
    out = start(cfg, "sft_mix", publish={"learned/mixture.json": published} if learned else None)
    if out is None:
        return
    data = load_prepared(cfg) if method.uses_base else None
    pool, dev, held = pools_and_dev(cfg, "sft_mix")
    check_budget(cfg, pool)
    chosen = method.select(context(cfg, data, pool, out.tmp, None))
    for source, info in chosen.notes.get("selection", {}).items():
        if info["chosen"] < info["quota"]:
            say(
                f"[sft_mix] source {source!r} has {info['available']} examples after filters and dedup for a quota "
                f"of {info['quota']}: took {info['chosen']} (sft.upsample=true repeats examples to fill it)"
            )
    if not chosen.examples:
        raise DoremiError("sft_mix: no training example was chosen (every quota is 0): check sft.mixture / sft.counts")
    sources = sorted(set(pool) | {ex.source for ex in dev})
    manifest = {
        "method": method.name,
        "cost": chosen.cost,
        "dev_set": held,
        **chosen.notes,
        "config": OmegaConf.to_container(sft, resolve=True),
    }
    if learned:
        manifest["learned"] = "learned/mixture.json"  # with learned/trajectory.jsonl
    counts = write_set(out.tmp, out.final, sources, chosen.examples, dev, manifest)
    commit(out)  # publishes mixtures/<name>-sft.json first when the quotas were learned
    if learned:
        say(f"[sft_mix] wrote the learned source weights to {published} (sft.mixture={published} reuses them)")
    say(
        f"[sft_mix] {len(chosen.examples)} training examples ({method.name}) and {len(dev)} dev examples: "
        + ", ".join(f"{s} {n}" for s, n in counts.items())
        + f" -> {out.final}"
    )
