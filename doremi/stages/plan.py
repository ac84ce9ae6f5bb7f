"""stage=plan: the learned mixture made feasible for the real run, and what learning it cost.

Reads a mixture (plan.mixture, default mixtures/<name>.json), the tokens available per
domain (plan.available: a .json of {domain: tokens}, default the prepared run's training
tokens) and the real run's token budget; writes the KL-closest mixture that satisfies
plan.max_epochs, plan.pin, plan.min_weight and plan.max_weight (doremi.outputs.plan) as a normal
mixture file (plan.out, default mixtures/<name>-plan.json) whose provenance holds the
learned weights, the constraints, which of them bind, the epochs per domain and the cost
of the mixture search next to the real run's.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.config.errors import DoremiError
from doremi.data import units
from doremi.data.mixture import load_mixture, make_mixture, read_mixture, write_mixture
from doremi.data.tokenizer import load_pretrained, load_saved
from doremi.outputs.plan import pinned_weights, plan, training_flops
from doremi.pipeline.graph import learned_or_published
from doremi.pipeline.prepared import load_prepared, stage_dir
from doremi.store.files import read_json
from doremi.store.runtime import say


def available_tokens(cfg: DictConfig, domains: list[str]) -> dict[str, float]:
    given = cfg.plan.available
    if given:
        tokens = read_json(str(given), "plan.available names a .json of {domain: tokens}; check the path")
        if not isinstance(tokens, dict):
            raise DoremiError(f"plan.available={given}: expected a JSON object of {{domain: tokens}}")
        return {str(d): float(v) for d, v in tokens.items()}
    manifest = read_json(
        stage_dir(cfg, "prepare") / "manifest.json",
        "plan.available is not set and the run has no prepared data: give plan.available=<tokens.json> or run_dir=",
    )
    return {d: float(v["tokens"]) for d, v in manifest["splits"]["train"].items()}


def tokenizer_conversion(cfg: DictConfig, weights: dict[str, float], target_spec: str) -> dict:
    """The weights as token shares of `target_spec` (a tokenizer.json or a hub name), from bytes per token
    measured on the same sample of each domain's training text with both tokenizers."""
    data = load_prepared(cfg)
    source = load_saved(data.dir, data.tokenizer["kind"])
    target = load_pretrained(target_spec, "plan.tokenizer")
    bpt_from, bpt_to = {}, {}
    for d in weights:
        texts, tokens = units.sample_texts(data.chunks("train", d), source)
        bpt_from[d] = units.measured_bytes_per_token(texts, tokens)
        bpt_to[d] = units.measured_bytes_per_token(texts, sum(len(ids) for ids in target.encode_batch(texts)))
    return {
        "weights": units.convert(weights, bpt_from, bpt_to),
        "from_tokenizer": data.tokenizer,
        "to_tokenizer": target_spec,
        "learned_token_shares": weights,
        "byte_shares": units.byte_shares(weights, bpt_from),
        "bytes_per_token_from": bpt_from,
        "bytes_per_token_to": bpt_to,
    }


def search_cost(source: str) -> dict | None:
    """FLOPs of learning the mixture, as its method recorded them (DoReMi: all rounds and seeds)."""
    provenance = read_mixture(source).get("provenance")
    cost = provenance.get("cost") if isinstance(provenance, dict) else None
    return dict(cost) if isinstance(cost, dict) and "flops" in cost else None


def run(cfg: DictConfig) -> None:
    p = cfg.plan  # its bounds, and that token_budget is set, were checked with the schema (doremi.config.settings)
    budget = float(p.token_budget)
    source = str(p.mixture or learned_or_published(cfg))
    learned = load_mixture(source, normalize=True)
    conversion = None
    if p.tokenizer:
        conversion = tokenizer_conversion(cfg, learned, str(p.tokenizer))
        learned = conversion.pop("weights")
    available = available_tokens(cfg, list(learned))
    max_epochs = None if p.max_epochs is None else float(p.max_epochs)
    pinned = pinned_weights(p.pin)
    low, high = float(p.min_weight), float(p.max_weight)
    result = plan(learned, available, budget, max_epochs, pinned, low, high)
    provenance = {
        "method": "plan",
        "source": source,
        "learned": learned,
        "token_budget": budget,
        "available_tokens": available,
        "constraints": {"max_epochs": max_epochs, "pin": pinned, "min_weight": low, "max_weight": high},
        "binding": result.binding,
        "epochs": result.epochs,
        "kl_from_learned": result.kl,
    }
    if conversion is not None:
        provenance["tokenizer_conversion"] = conversion
    cost = search_cost(source)
    if cost is not None:
        if p.target_params:
            target = training_flops(int(p.target_params), budget)
            cost.update(target_flops=target, share_of_target=cost["flops"] / target)
        provenance["cost"] = cost
    out = Path(str(p.out or Path(cfg.mixtures_dir) / f"{cfg.name}-plan.json"))
    domains = list(learned)
    write_mixture(
        out,
        make_mixture(domains, [result.weights[d] for d in domains], {"learned": list(learned.values())}, provenance),
    )
    say(
        f"[plan] {budget:,.0f} tokens; max {max_epochs} epochs per domain; KL from the learned weights {result.kl:.4f} nats"
    )
    for d in domains:
        held = f"  ({result.binding[d]})" if d in result.binding else ""
        say(
            f"[plan]   {d:<24} learned {learned[d]:.4f} -> {result.weights[d]:.4f}  {result.epochs[d]:6.2f} epochs{held}"
        )
    if cost is not None:
        share = (
            f", {cost['share_of_target']:.2%} of the target run's {cost['target_flops']:.3g}"
            if "share_of_target" in cost
            else ""
        )
        say(f"[plan] learning the mixture cost {cost['flops']:.3g} FLOPs{share}")
    say(f"[plan] wrote {out}")
