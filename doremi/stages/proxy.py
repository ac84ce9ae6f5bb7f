"""stage=proxy: train the proxy with Group DRO against the reference; write the learned mixture.

With `rounds=N` (iterated DoReMi) round r+1 trains a new reference on round r's averaged
weights and a new proxy against it, until N rounds or until the L1 change of the weights
falls below `rounds_tolerance`. Each round keeps its mixture and trajectory under
`proxy/round-<r>/`; `proxy/mixture.json` and `proxy/trajectory.jsonl` are the last round's,
and `proxy/rounds.json` lists every round's weights and change.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from doremi.config.settings import seeds_of
from doremi.data.mixture import resolve_mixture, write_mixture
from doremi.methods.doremi.learning import check_settings, cost_so_far, learn_round, rounds_summary
from doremi.pipeline.common import (
    commit,
    is_main_process,
    load_checkpoint,
    load_prepared,
    say,
    stage_dir,
    start,
)
from doremi.store.files import read_json, write_json_atomic
from doremi.training.fitting import fit_lm, save_lm, trained


def run(cfg: DictConfig) -> None:
    data = load_prepared(cfg)
    reference = load_checkpoint(stage_dir(cfg, "reference") / "model.pt", data, "stage=reference")
    init = check_settings(cfg, data)
    seeds = seeds_of(cfg, "proxy.seeds")
    published = Path(cfg.mixtures_dir) / f"{cfg.name}.json"
    out = start(cfg, "proxy", publish={"mixture.json": published})
    if out is None:
        return
    k = len(data.domains)
    tokens = data.token_counts("train")
    uniform = [1.0 / k] * k
    natural = resolve_mixture("natural", data.domains, tokens, "natural")
    baselines = {"uniform": uniform, "natural": natural, "reference": list(reference["mixture"].values())}
    rounds, history = int(cfg.rounds), []
    for r in range(1, rounds + 1):
        round_dir = out.tmp if rounds == 1 else out.tmp / f"round-{r}"
        label = "proxy" if rounds == 1 else f"proxy:round-{r}"
        if rounds > 1 and (round_dir / "mixture.json").exists():  # finished before an interruption
            history.append(read_json(round_dir / "mixture.json", "")["weights"])
            continue
        if r > 1:  # a new reference, trained on the previous round's weights
            previous = [history[-1][d] for d in data.domains]
            saved = round_dir / "reference" / "model.pt"
            if saved.exists():  # trained before an interruption
                reference = load_checkpoint(saved, data, "")
            else:
                say(f"[reference:round-{r}] training on round {r - 1}'s weights")
                lm = fit_lm(cfg, data, previous, cfg.reference, round_dir / "reference", f"reference:round-{r}")
                model = trained(lm)
                reference = {"state_dict": model.state_dict(), "mixture": dict(zip(data.domains, previous))}
                save_lm(saved, model, cfg, data, previous)
        mixture = learn_round(cfg, data, reference, round_dir, label, init, r, seeds, baselines)
        mixture["provenance"]["cost"] = cost_so_far(cfg, data, r, len(seeds))
        if is_main_process():
            write_mixture(round_dir / "mixture.json", mixture)
        history.append(mixture["weights"])
        if r > 1:
            change = sum(abs(history[-1][d] - history[-2][d]) for d in data.domains)
            say(f"[proxy] round {r}: L1 change of the weights {change:.4f}")
            if change < float(cfg.rounds_tolerance):
                say(f"[proxy] change below rounds_tolerance={cfg.rounds_tolerance}: stopping after round {r}")
                break
    if not is_main_process():
        commit(out)
        return
    if rounds > 1:
        last = out.tmp / f"round-{len(history)}"
        if (last / "trajectory.jsonl").exists():
            (out.tmp / "trajectory.jsonl").write_bytes((last / "trajectory.jsonl").read_bytes())
        mixture = read_json(last / "mixture.json", "")
        write_mixture(out.tmp / "mixture.json", mixture)
        write_json_atomic(out.tmp / "rounds.json", rounds_summary(history, data.domains))
    commit(out)  # publishes mixtures/<name>.json before marking the stage done
    say("[proxy] learned mixture: " + ", ".join(f"{d} {w:.3f}" for d, w in mixture["weights"].items()))
    say(f"[proxy] wrote {out.final / 'mixture.json'} and {published}")
