"""`quality`: a classifier trained on a small seed set of good examples scores the pool and the best-scored are
kept (the pattern of Meta's curation guide and AlpaGasus, Chen et al., 2023: a model trained on a few
high-quality examples annotates a larger pool). The seed set is `sft.seed_set` (a file of chats or
prompt/response records), or, when unset, `sft.compare.seed_size` examples that pass LIMA's filters.

The classifier: scikit-learn's logistic regression on hashed features of the response (word 1- and 2-grams)
and of the pair (every prompt word with every response word, the first 24 of each: whether the answer fits
the question, which the response alone cannot show), with the share of the prompt's words the response uses
and the response's log length beside them; positives are the seed set, negatives an equal draw of the pool
(positive-unlabelled learning: the pool's best look like the seed set). As AlpaGasus keeps the examples rated
above a threshold, the set is drawn uniformly from the examples the classifier calls good (probability at
least 0.5), the best-scored of the rest filling it where too few are: taking only the very top scores would
crowd the set with whatever the seed set has most of. One fit; no forward pass of the base model."""

from __future__ import annotations

import math
import re

import numpy as np

from doremi.config.errors import DoremiError
from doremi.sft.examples import Example, _records, to_example
from doremi.sft.filters import apply_filters
from doremi.sft.methods.base import Selection, SetContext, SetMethod, random_subset, top

WORD = re.compile(r"[a-z_][a-z0-9_]{2,}")
PAIRED = 24  # prompt and response words crossed into pair features


def seed_examples(ctx: SetContext) -> list[Example]:
    sft = ctx.cfg.sft
    if sft.seed_set:
        seeds = [to_example(r, str(r.get(sft.source_field, "seed")), sft, w) for r, w in _records(str(sft.seed_set))]
        if len(seeds) < 2:
            raise DoremiError(
                f"sft.seed_set={sft.seed_set} holds {len(seeds)} example(s): the quality classifier needs 2 or more good examples"
            )
        return seeds
    kept, _ = apply_filters(ctx.everything(), sft.filters)
    if len(kept) < 2:
        raise DoremiError(
            f"quality: {len(kept)} example(s) of the pool pass LIMA's filters, too few to seed the classifier; "
            "give good examples in sft.seed_set or loosen sft.filters"
        )
    return random_subset(kept, int(sft.compare.seed_size), ctx.seed)


def overlap(example: Example) -> float:
    """The share of the prompt's words (3+ letters) that the response uses."""
    asked = set(WORD.findall(example.prompt.lower()))
    said = set(WORD.findall(example.response.lower()))
    return len(asked & said) / len(asked) if asked else 0.0


def pairs(example: Example) -> list[str]:
    """Every prompt word with every response word (the first PAIRED of each), as one token each."""
    asked = list(dict.fromkeys(WORD.findall(example.prompt.lower())))[:PAIRED]
    said = list(dict.fromkeys(WORD.findall(example.response.lower())))[:PAIRED]
    return [f"{a}>{b}" for a in asked for b in said]


def features(examples: list[Example]):
    from scipy import sparse

    from doremi.config.extras import needs

    HashingVectorizer = needs("sklearn.feature_extraction.text", "sft", "the quality SFT set method").HashingVectorizer  # noqa: N806

    words = HashingVectorizer(n_features=2**16, ngram_range=(1, 2), alternate_sign=False, norm="l2")
    crossed = HashingVectorizer(n_features=2**16, analyzer=lambda pair_list: pair_list, alternate_sign=False, norm="l2")
    grams = words.transform([ex.response for ex in examples])
    matched = crossed.transform([pairs(ex) for ex in examples])
    extra = np.array([[4.0 * overlap(ex), math.log1p(len(ex.response)) / 4] for ex in examples])
    return sparse.hstack([grams, matched, sparse.csr_matrix(extra)]).tocsr()


def quality_set(ctx: SetContext) -> Selection:
    from doremi.config.extras import needs

    LogisticRegression = needs("sklearn.linear_model", "sft", "the quality SFT set method").LogisticRegression  # noqa: N806

    seeds = seed_examples(ctx)
    pool = ctx.everything()
    seed_ids = {ex.id for ex in seeds}
    negatives = random_subset([ex for ex in pool if ex.id not in seed_ids], len(seeds), ctx.seed + 1)
    model = LogisticRegression(max_iter=2000, C=1.0)
    model.fit(features(seeds + negatives), [1] * len(seeds) + [0] * len(negatives))
    scores = model.predict_proba(features(pool))[:, 1]
    good = [ex for ex, p in zip(pool, scores) if p >= 0.5]
    chosen = random_subset(good, ctx.budget, ctx.seed + 2)
    if len(chosen) < ctx.budget:
        rest = [(ex, p) for ex, p in zip(pool, scores) if p < 0.5]
        chosen += top([ex for ex, _ in rest], [p for _, p in rest], ctx.budget - len(chosen))
    notes = {
        "seed_examples": len(seeds),
        "seed_set": str(ctx.cfg.sft.seed_set or "LIMA's filters"),
        "called_good": len(good),
    }
    return Selection(chosen, {"forward_passes": 0, "fits": 1}, notes)


METHOD = SetMethod(
    "quality",
    "a classifier trained on a seed set of good examples keeps the best-scored (sft.seed_set)",
    quality_set,
    settings=("sft.seed_set", "sft.compare.seed_size", "sft.filters"),
    fits=1,
)
