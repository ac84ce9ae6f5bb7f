"""SFT set methods behind one seam: each picks `sft.budget` examples from the same pools (the dev set already
held out, doremi.sft.devset) and states its cost. A method is one module here and one entry in `_builtins()` (a plug-in: the
`doremi.sft_methods` entry-point group, or `register(method)`, with its own settings sections);
stage=sft_mix runs one (`sft.method`), stage=sft_compare judges several side by side.

`random` (uniform over the pool) and `stratified` (equal quotas per source) are the baselines every compare
judges against, as stratified and natural are for pretraining mixtures."""

from __future__ import annotations

from doremi.config.errors import DoremiError
from doremi.config.registry import Registry
from doremi.sft.methods.base import Selection, SetContext, SetMethod  # noqa: F401  (methods import them from here)

BASELINES = ("random", "stratified")


def _builtins() -> list[SetMethod]:
    from doremi.sft.methods import baselines, diverse, ifd, learned, less, lima, longest, nearest, quality

    return [
        *baselines.METHODS,
        lima.METHOD,
        longest.METHOD,
        ifd.METHOD,
        quality.METHOD,
        diverse.METHOD,
        learned.METHOD,
        less.METHOD,
        nearest.METHOD,
    ]


REGISTRY = Registry("SFT set method", "doremi.sft_methods", _builtins)
register, unregister, sections = REGISTRY.register, REGISTRY.unregister, REGISTRY.sections


def _registry() -> dict[str, SetMethod]:
    return REGISTRY.all()


def known() -> list[str]:
    return list(_registry())


def resolve(name: str, key: str = "sft.method") -> SetMethod:
    """The SFT set method named `name`; an unknown name is one line naming the key and the known methods."""
    registry = _registry()
    if name not in registry:
        from doremi.data.mixture import closest

        raise DoremiError(
            f"{key}: {name!r} is not an SFT set method{closest(name, list(registry))}; known: {', '.join(registry)}"
        )
    return registry[name]


def entries(names) -> list[SetMethod]:
    """sft.compare.methods resolved (`all`: every registered method), the baselines added, each once."""
    out: list[SetMethod] = []
    names = [str(n) for n in names]
    names = known() if names == ["all"] else names
    for name in [*names, *BASELINES]:
        method = resolve(name, "sft.compare.methods")
        if method not in out:
            out.append(method)
    return out
