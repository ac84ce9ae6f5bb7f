"""SFT sets as contestants: every method's set selected once per (method settings, pools, budget, base) and
kept under <run_dir>/trials/sft-sets/, each set fine-tuned per seed as a fingerprinted trial under
<run_dir>/trials/sft-<method>-seed-<s>-<id>/, scored per dev example (the decision's documents) and per
pretraining held-out document (forgetting)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from omegaconf import DictConfig

from doremi.config import settings
from doremi.config.errors import DoremiError
from doremi.config.keys import TRAINING, digest, file_digest, flat, select
from doremi.config.settings import SftSettings, TrainerSettings
from doremi.sft.examples import Example
from doremi.sft.methods import SetMethod
from doremi.sft.tune import encode, fine_tune, response_sums
from doremi.store.files import no_links, read_json, write_json_atomic
from doremi.store.lock import stage_lock
from doremi.store.runtime import is_main_process, say
from doremi.store.trials import train_once
from doremi.training.lm import heldout_scores

TRIAL_SETTINGS = (
    "sft.epochs",
    "sft.batch_size",
    "sft.lr",
    "sft.min_lr_ratio",
    "sft.betas",
    "sft.weight_decay",
    "sft.dropout_top",
    "sft.lora",
    *TRAINING,
)


class Sets:
    """Every method's set, selected once per (method settings, pools, budget, base) and kept under
    <run_dir>/trials/sft-sets/<method>-<key>/ (trial jobs and reruns read it)."""

    def __init__(
        self, cfg: DictConfig, data, pool: dict, base: tuple[dict, Path], pool_key: str, context, write_jsonl, target=()
    ):
        self.cfg, self.data, self.pool, self.base, self.pool_key = cfg, data, pool, base, pool_key
        self.target = list(target)  # sft.target.paths's examples: the target-aware methods' aim
        self.context, self.write_jsonl = context, write_jsonl  # the stage's services (a method's context, a set's file)
        self.base_key = file_digest(str(base[1]))  # the base model's content, hashed once
        self.root = Path(cfg.run_dir) / "trials" / "sft-sets"

    def key(self, method: SetMethod) -> str:
        spec = {k: flat(k, select(self.cfg, k)) for k in method.settings}
        spec.update(
            method=method.name, pool=self.pool_key, budget=int(self.cfg.sft.budget), seed=int(self.cfg.sft.seed)
        )
        if method.uses_target:
            spec["target"] = digest([ex.id for ex in self.target])
        if method.uses_base:
            spec["base"] = self.base_key
            spec["base learned"] = str(self.cfg.sft.learn.base)
        return digest(spec)

    def get(self, method: SetMethod) -> tuple[list[Example], dict]:
        folder = self.root / f"{method.name}-{self.key(method)}"
        no_links(folder, self.cfg.run_dir)
        if (folder / "selection.json").is_file():
            record = read_json(folder / "selection.json", "")
            examples = [Example(**json.loads(line)) for line in (folder / "set.jsonl").read_text().splitlines()]
            if digest([ex.id for ex in examples]) == record["set"]:
                return examples, record
            raise DoremiError(
                f"{folder / 'set.jsonl'} is not the set its selection recorded (edited or replaced): delete {folder} and rerun"
            )
        with stage_lock(self.cfg.run_dir, f"trial-{folder.name}", wait=True):  # parallel trial jobs select once
            if (folder / "selection.json").is_file():
                return self.get(method)
            say(f"[sft_compare] {method.name}: selecting {self.cfg.sft.budget} examples")
            started = time.perf_counter()
            chosen = method.select(self.context(self.cfg, self.data, self.pool, folder, self.base, self.target))
            record = {
                "method": method.name,
                "set": digest([ex.id for ex in chosen.examples]),
                "cost": chosen.cost,
                "notes": chosen.notes,
                "seconds": time.perf_counter() - started,
            }
            if is_main_process():
                self.write_jsonl(folder / "set.jsonl", chosen.examples)
                write_json_atomic(folder / "selection.json", record)  # last: it marks the set whole
            return chosen.examples, record


class TrialTrainer:
    """One trial: a set fine-tuned with one seed into <run_dir>/trials/sft-<method>-seed-<s>-<id>/ (locked, no link
    followed, reused when its result is there), scored on the dev set and the pretraining held-out documents."""

    def __init__(self, cfg, base, dev_rows, heldout, tokenizer, length, dev_key):
        self.cfg, self.base, self.dev, self.heldout = cfg, base, dev_rows, heldout
        self.base_key = file_digest(str(base[1]))  # hashed once, not for every trial
        self.tokenizer, self.length, self.dev_key = tokenizer, length, dev_key
        self.sft, self.run = settings.of(cfg, SftSettings), settings.of(cfg, TrainerSettings)

    def folder(self, name: str, examples: list[Example], seed: int) -> Path:
        spec = {k: flat(k, select(self.cfg, k)) for k in TRIAL_SETTINGS}
        spec.update(
            set=digest([ex.id for ex in examples]),
            dev=self.dev_key,
            seed=int(seed),
            base=self.base_key,
            heldout=self.heldout.documents,
        )
        return Path(self.cfg.run_dir) / "trials" / f"sft-{name}-seed-{seed}-{digest(spec)}"

    def train(self, name: str, examples: list[Example], seed: int) -> dict:
        where = self.folder(name, examples, seed)

        def fine_tuned() -> dict:
            say(f"[sft_compare] fine-tuning on the {name} set ({len(examples)} chats), seed {seed}")
            started = time.perf_counter()
            rows = encode(self.tokenizer, [ex.to_record() for ex in examples], self.length)
            model = fine_tune(self.base[0], rows, self.sft, self.run, seed, where, f"sft:{name}:seed-{seed}")
            sums, tokens = response_sums(model, self.dev)
            result = {
                "seed": seed,
                "examples": len(examples),
                "dev": {"sums": sums.tolist(), "tokens": tokens.tolist()},
                "heldout_documents": heldout_scores(model, self.heldout)[1].tolist(),
                "seconds": time.perf_counter() - started,
            }
            if is_main_process():
                write_json_atomic(where / "result.json", result)
            return result

        return train_once(self.cfg.run_dir, where, fine_tuned, is_main_process())


class SetContestant:
    """An SFT set in a compare (doremi.compare.engine's contestant): methods that chose the same set share its
    fine-tunes."""

    def __init__(self, name: str, examples: list[Example], record: dict, trainer: TrialTrainer):
        self.name, self.examples, self.record, self.trainer = name, examples, record, trainer
        self.key = record["set"]

    def train(self, seed: int) -> dict:
        return self.trainer.train(self.name, self.examples, seed)


def dev_history(result: dict) -> list:
    """A fine-tune's one evaluation on the dev set: per example, the summed nats of its response tokens."""
    return [{"step": 1, "documents": result["dev"]["sums"]}]


def heldout_history(result: dict) -> list:
    """A fine-tune's one evaluation on the pretraining held-out documents (forgetting)."""
    return [{"step": 1, "documents": result["heldout_documents"]}]
