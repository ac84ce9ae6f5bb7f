"""stage=prepare throughput (MB/s) and peak memory, against a plain `datasets.map`.

Makes a synthetic JSON Lines corpus of --mb megabytes over four domains, then, each in a
fresh process so that peak memory (max RSS) is its own:

- doremi prepare with the byte tokenizer and with a BPE tokenizer (`tokenizers`);
- the baseline: `load_dataset("json")` + `Dataset.map(tokenize, batched=True)` with the
  same tokenizer, the way a user would tokenize with `datasets` alone.

    python bench/bench_prepare.py --mb 200
    python bench/bench_prepare.py --mb 1500 --only doremi-byte   # peak memory on a corpus 3x the 512 MB cap
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = "data mixture domain weight token model loss train proxy reference group robust optimization".split()


def make_corpus(path: Path, megabytes: int) -> None:
    rng = random.Random(0)
    lines = []
    for i in range(2000):  # a pool of distinct documents, cycled with a counter to make each unique
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(100, 400)))
        lines.append((["web", "code", "books", "math"][i % 4], text))
    target, written, n = megabytes * 1_000_000, 0, 0
    with open(path, "w") as f:
        while written < target:
            domain, text = lines[n % len(lines)]
            line = json.dumps({"text": f"{n} {text}", "domain": domain}) + "\n"
            f.write(line)
            written += len(line)
            n += 1


def child(mode: str, corpus: str, work: str) -> dict:
    start = time.perf_counter()
    if mode.startswith("doremi"):
        from hydra import compose, initialize_config_dir

        from doremi.__main__ import CONFIG_DIR
        from doremi.stages import prepare

        kind = mode.split("-")[1]
        overrides = [f"run_dir={work}/run-{kind}", f"data.paths=[{corpus}]", f"tokenizer={kind}", "model.seq_len=512"]
        if kind == "bpe":
            overrides += ["tokenizer.vocab_size=8000", "tokenizer.train_chars=5000000"]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            prepare.run(compose(config_name="config", overrides=overrides))
    else:
        from datasets import load_dataset

        kind = mode.split("-")[1]
        if kind == "byte":
            tokenize = lambda batch: {"ids": [list(t.encode()) + [256] for t in batch["text"]]}  # noqa: E731
        else:
            from doremi.data.tokenizer import load_pretrained

            tok = load_pretrained(f"{work}/run-bpe/prepare/tokenizer.json")
            tokenize = lambda batch: {"ids": [list(x) for x in tok.encode_batch(batch["text"])]}  # noqa: E731
        ds = load_dataset("json", data_files=[corpus], split="train", cache_dir=f"{work}/hf-cache-{kind}")
        ds.map(tokenize, batched=True, batch_size=512, remove_columns=ds.column_names, num_proc=2)
    return {
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--only", default="doremi-byte,datasets-byte,doremi-bpe,datasets-bpe")
    parser.add_argument("--cap-mb", type=int, default=512, help="peak-memory cap doremi prepare must stay under")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus.jsonl"
        make_corpus(corpus, args.mb)
        size_mb = corpus.stat().st_size / 1e6
        print(f"corpus: {size_mb:.0f} MB of JSON Lines, 4 domains")
        results = {}
        for mode in args.only.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(corpus), work],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[mode]
            print(
                f"{mode:15s} {size_mb / r['seconds']:7.1f} MB/s  {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:7.0f} MB"
            )
        for mode, r in results.items():
            if mode.startswith("doremi"):
                within = "within" if r["peak_rss_mb"] <= args.cap_mb else "OVER"
                print(
                    f"{mode}: memory cap {args.cap_mb} MB, corpus {size_mb / args.cap_mb:.1f}x the cap, peak {within} the cap"
                )
        for kind in ("byte", "bpe"):
            if f"doremi-{kind}" in results and f"datasets-{kind}" in results:
                ratio = results[f"datasets-{kind}"]["seconds"] / results[f"doremi-{kind}"]["seconds"]
                mem = results[f"doremi-{kind}"]["peak_rss_mb"] / results[f"datasets-{kind}"]["peak_rss_mb"]
                print(f"{kind}: doremi prepare throughput = {ratio:.2f}x datasets.map; peak memory = {mem:.2f}x")


if __name__ == "__main__":
    main()
