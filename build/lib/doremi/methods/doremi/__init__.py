"""DoReMi (Xie et al., 2023): a reference model, a proxy trained with Group DRO against it, the
averaged weights. The default method; `stage=proxy` and its files are unchanged: learning runs the
reference and proxy stages first (`needs`, reused when done) and takes proxy/mixture.json as it is.

Variants are rows of stage=compare with DoReMi's remedies for unstable weights: the paper's
default, `dro.burn_in`, `dro.warm_start`, and the original repository's advice (its issue #5) of a
reference on natural proportions with η = 0.1.
"""

from __future__ import annotations

from doremi.methods.base import LearnContext, Method
from doremi.methods.doremi.report import cost_words, describe, report
from doremi.store.files import read_json

NEEDS = ("reference", "proxy")


def learn(ctx: LearnContext) -> dict:
    mixture = read_json(ctx.locate("proxy_mixture"), "rerun stage=proxy with overwrite=true")
    mixture["provenance"]["method"] = ctx.name
    return mixture


METHOD = Method(
    "doremi",
    "reference LM + Group DRO proxy, averaged weights (Xie et al., 2023)",
    learn,
    needs=NEEDS,
    report=report,
    describe=describe,
    cost_words=cost_words,
    made_by="proxy",
)

VARIANTS = (
    Method(
        "doremi+burn_in",
        "DoReMi averaging the weights after the first 20% of proxy steps",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"dro.burn_in": 0.2},
    ),
    Method(
        "doremi+warm_start",
        "DoReMi whose proxy first trains a sixth of its steps on uniform weights",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"dro.warm_start": max(1, int(cfg.proxy.max_steps) // 6)},
    ),
    Method(
        "doremi+natural_ref",
        "DoReMi with a reference on natural proportions and eta = 0.1 (DoReMi repository, issue #5)",
        learn,
        needs=NEEDS,
        report=report,
        describe=describe,
        cost_words=cost_words,
        overrides=lambda cfg: {"reference.mixture": "natural", "dro.eta": 0.1},
    ),
)
