"""SFT set methods behind one seam: each picks `sft.budget` examples from the same pools (the dev set already
held out, doremi.sft.devset) and states its cost. A method is one module here and one entry in `_registry()`;
stage=sft_mix runs one (`sft.method`), stage=sft_compare judges several side by side.

`random` (uniform over the pool) and `stratified` (equal quotas per source) are the baselines every compare
judges against, as stratified and natural are for pretraining mixtures."""

from __future__ import annotations

from doremi.config.errors import DoremiError
from doremi.sft.methods.base import Selection, SetContext, SetMethod  # noqa: F401  (methods import them from here)

BASELINES = ("random", "stratified")


def _registry() -> dict[str, SetMethod]:
    from doremi.sft.methods import baselines, diverse, ifd, learned, lima, longest, quality

    methods = [*baselines.METHODS, lima.METHOD, longest.METHOD, ifd.METHOD, quality.METHOD, diverse.METHOD, learned.METHOD]  # fmt: skip
    return {m.name: m for m in methods}


def known() -> list[str]:
    return list(_registry())


def resolve(name: str, key: str = "sft.method") -> SetMethod:
    """The SFT set method named `name`; an unknown name is one line naming the key and the known methods."""
    registry = _registry()
    if name not in registry:
        from doremi.data.mixture import closest

        raise DoremiError(f"{key}: {name!r} is not an SFT set method{closest(name, list(registry))}; known: {', '.join(registry)}")  # fmt: skip
    return registry[name]


def entries(names) -> list[SetMethod]:
    """sft.compare.methods resolved, the baselines added, each once."""
    out: list[SetMethod] = []
    for name in [*[str(n) for n in names], *BASELINES]:
        method = resolve(name, "sft.compare.methods")
        if method not in out:
            out.append(method)
    return out
