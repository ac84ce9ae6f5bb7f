"""stage=final: train final models on the candidate mixture and on baselines, several seeds
each; score them on the same held-out documents; judge the candidate against every baseline.

The candidate is the learned mixture (learn/<method>/mixture.json, or DoReMi's proxy/mixture.json
from a bare stage=proxy), or any mixture file given as
`final.mixture=<file>`. Every mixture trains the same architecture for the same steps and
batch size (the same token budget) with each seed of `final.seeds`; seed s gives every
mixture the same initialization. Each model is scored every `final.eval_every` steps on the
held-out set of doremi.data.heldout (whole splits, or `final.eval_chunks` sequences per
domain spread over the split), per document, so that doremi.stats.verdict can put an interval on
every difference.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.compare.mixtures import Candidate, schedule_average, summaries, time_spent, train_all
from doremi.config.settings import seeds_of
from doremi.data.heldout import HeldOut
from doremi.data.mixture import resolve_mixture, validate_weights
from doremi.pipeline.common import commit, heldout_for, is_main_process, load_prepared, say, start
from doremi.pipeline.graph import locate, method_of
from doremi.stats.decide import versus
from doremi.store.files import read_json, write_json_atomic


def candidate_mixture(cfg: DictConfig, data) -> Candidate:
    """The mixture under test (name, weights, online settings): final.mixture, else the learned one (whose
    provenance names its method and, for an online method, the settings its weights change by in training)."""
    chosen = cfg.final.get("mixture")
    if chosen:
        weights = resolve_mixture(str(chosen), data.domains, data.token_counts("train"), "final.mixture")
        return Candidate(Path(str(chosen)).name.removesuffix(".json"), weights)
    mixture_file = locate(cfg, "learned_mixture")
    mixture = read_json(
        mixture_file,
        f"run stage=learn method={method_of(cfg)} first (same run_dir=), or name a mixture with final.mixture=",
    )
    learned = validate_weights(mixture["weights"], data.domains, f"{mixture_file}: field 'weights'")
    provenance = mixture.get("provenance", {})
    name = str(provenance.get("method") or method_of(cfg))
    return Candidate(name, [learned[d] for d in data.domains], provenance.get("online"), name)


def mixtures_to_train(cfg: DictConfig, data, candidate: Candidate) -> list[Candidate]:
    """The candidate first, then each baseline, then the reference mixture (each name once)."""
    tokens = data.token_counts("train")
    out = {candidate.name: candidate}
    for spec in list(cfg.final.baselines) + [str(cfg.reference.mixture)]:
        name = str(spec).rsplit("/", 1)[-1].removesuffix(".json")
        name = "stratified" if name == "uniform" else name  # one name for the uniform baseline
        if name not in out:
            out[name] = Candidate(name, resolve_mixture(str(spec), data.domains, tokens, "final.baselines"))
    return list(out.values())


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    candidate = candidate_mixture(cfg, data)
    seeds = seeds_of(cfg, "final.seeds")
    out = start(cfg, "final")
    if out is None:
        return verdict_summary(read_json(locate(cfg, "final_eval"), ""))
    heldout = heldout_for(cfg, data)
    described = heldout.describe()
    say(
        f"[final] {len(seeds)} seed(s) per mixture, scored on {sum(described['sequences'].values())} held-out "
        f"sequences ({heldout.documents} documents{', whole splits' if described['whole_split'] else ''})"
    )
    results, _ = train_all(
        cfg, data, mixtures_to_train(cfg, data, candidate), seeds, heldout, out.tmp, out.tmp / "model.pt"
    )
    if not is_main_process():
        commit(out)
        return
    if candidate.online:
        schedule_average(cfg, data, candidate.name, results[candidate.name][seeds[0]]["schedule"], out.tmp)
    evaluated = evaluation(cfg, data, candidate.name, seeds, heldout, results)
    write_json_atomic(out.tmp / "eval.json", evaluated)
    commit(out)
    say(f"[final] wrote {out.final / 'eval.json'}")
    return verdict_summary(evaluated)


def verdict_summary(evaluated: dict) -> str:
    """What stage=final prints when run alone: the candidate's verdict lines and the repetition warnings."""
    from doremi.outputs.report.document import verdict_lines

    lines = [line.replace("**", "") for line in verdict_lines(evaluated)]
    lines += [f"warning: {w}" for w in evaluated.get("repetition_warnings", [])]
    return "\n".join(lines)


def evaluation(cfg, data, candidate: str, seeds: list[int], heldout: HeldOut, results: dict) -> dict:
    """eval.json: every mixture's losses (mean and per seed) and the candidate's verdicts."""
    domains = data.domains
    comparison = versus(results, seeds, candidate, heldout, domains, int(cfg.seed))
    budget_steps = int(cfg.final.max_steps)
    mixtures, warnings = summaries(cfg, domains, results, heldout, "final")
    return {
        "domains": domains,
        "budget": {
            "steps": budget_steps,
            "batch_size": int(cfg.final.batch_size),
            "tokens": budget_steps * int(cfg.final.batch_size) * data.seq_len,
        },
        "unit": "nats/token",
        "candidate": candidate,
        "seeds": seeds,
        "heldout": {**heldout.describe(), "bytes_per_token": heldout.bytes_per_token()},
        "mixtures": mixtures,
        "repetition_warnings": warnings,
        "comparison": comparison,
        "doremi_steps_to_baseline": {
            name: (round(budget_steps / c["speedup"]["factor"]) if c["speedup"]["factor"] else None)
            for name, c in comparison["baselines"].items()
        },
        "time": time_spent(results),
    }
