"""Stopping strategies, chosen by name: the seed's five (fixed step, norm threshold, norm increase
rate, CLIP maximum, DINOv2 maximum). The app's dropdowns, the CLI's ``--stop-on`` and the
evaluation all read ``STRATEGIES``."""

from __future__ import annotations

from pixelart.errors import ConfigError
from pixelart.stopping.base import Series, StopDecision, StoppingStrategy
from pixelart.stopping.fixed_step import FixedStep
from pixelart.stopping.norm_rate import NormIncreaseRate
from pixelart.stopping.norm_threshold import NormThreshold
from pixelart.stopping.semantic_max import ClipMax, DinoMax, SemanticMax

STRATEGIES: dict[str, type[StoppingStrategy]] = {
    cls.name: cls for cls in (FixedStep, NormThreshold, NormIncreaseRate, ClipMax, DinoMax)
}
SEED_STRATEGIES = tuple(STRATEGIES)  # the five of seed 000 §4.2, in the paper's order


def make_strategy(name: str, param: float | None = None, **options) -> StoppingStrategy:
    """Instantiate a strategy by name (unknown names get a message listing the known ones)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(STRATEGIES)}") from None
    if options and not issubclass(cls, SemanticMax):
        raise ConfigError(f"strategy '{name}' takes no options ({', '.join(options)})")
    return cls(param, **options)


def decide_all(series: Series, names=None) -> dict[str, StopDecision]:
    """Every strategy's offline decision (default parameters) on one recorded series."""
    return {name: make_strategy(name).decide(series) for name in (names or STRATEGIES)}


__all__ = ["STRATEGIES", "SEED_STRATEGIES", "StopDecision", "StoppingStrategy", "make_strategy", "decide_all"]
