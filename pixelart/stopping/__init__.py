"""Stopping strategies, chosen by name: the seed's five (fixed step, norm threshold, norm increase
rate, CLIP maximum, DINOv2 maximum) and this project's additions (a part-aware rate and two
combinations of the seed's signals). The app's dropdowns, the CLI's ``--stop-on`` and the
evaluation all read ``STRATEGIES``."""

from __future__ import annotations

from pixelart.errors import ConfigError
from pixelart.stopping.base import Series, StopDecision, StoppingStrategy
from pixelart.stopping.combined import NormRateCap, NormRateClipGate
from pixelart.stopping.fixed_step import FixedStep
from pixelart.stopping.norm_rate import NormIncreaseRate
from pixelart.stopping.norm_threshold import NormThreshold
from pixelart.stopping.part_rate import PartNormRate
from pixelart.stopping.semantic_max import ClipMax, DinoMax

_SEED = (FixedStep, NormThreshold, NormIncreaseRate, ClipMax, DinoMax)
_NEW = (PartNormRate, NormRateCap, NormRateClipGate)
STRATEGIES: dict[str, type[StoppingStrategy]] = {cls.name: cls for cls in (*_SEED, *_NEW)}
SEED_STRATEGIES = tuple(cls.name for cls in _SEED)  # the five of seed 000 §4.2, in the paper's order
NEW_STRATEGIES = tuple(cls.name for cls in _NEW)  # part-aware and combined strategies (issue 4)


def strategy_options(cls: type[StoppingStrategy]) -> tuple[str, ...]:
    """Keyword options a strategy accepts besides its parameter."""
    return cls.options


def make_strategy(name: str, param: float | None = None, **options) -> StoppingStrategy:
    """Instantiate a strategy by name (unknown names get a message listing the known ones)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(STRATEGIES)}") from None
    accepted = strategy_options(cls)
    unknown = [k for k in options if k not in accepted]
    if unknown and not accepted:
        raise ConfigError(f"strategy '{name}' takes no options ({', '.join(options)})")
    if unknown:
        raise ConfigError(f"strategy '{name}' takes the options {', '.join(accepted)}, not {', '.join(unknown)}")
    return cls(param, **options)


def decide_all(series: Series, names=None) -> dict[str, StopDecision]:
    """Every strategy's offline decision (default parameters) on one recorded series."""
    return {name: make_strategy(name).decide(series) for name in (names or STRATEGIES)}


__all__ = [
    "STRATEGIES", "SEED_STRATEGIES", "NEW_STRATEGIES", "StopDecision", "StoppingStrategy", "make_strategy",
    "decide_all", "strategy_options",
]
