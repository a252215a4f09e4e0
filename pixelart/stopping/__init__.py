"""Stopping strategies, chosen by name: the seed's five (fixed step, norm threshold, norm increase
rate, CLIP maximum, DINOv2 maximum) and this project's additions (a part-aware rate and two
combinations of the seed's signals). The app's dropdowns, the CLI's ``--stop-on`` and the
evaluation all read ``STRATEGIES``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

from workbench.errors import ConfigError
from pixelart.stopping.base import Series, StopDecision, StoppingStrategy
from pixelart.stopping.combined import NormRateCap, NormRateClipGate
from pixelart.stopping.fixed_step import FixedStep
from pixelart.stopping.norm_rate import NormIncreaseRate
from pixelart.stopping.norm_threshold import NormThreshold
from pixelart.stopping.part_rate import PartNormRate
from pixelart.stopping.semantic_max import DEFAULT_PATIENCE, ClipMax, DinoMax

_SEED = (FixedStep, NormThreshold, NormIncreaseRate, ClipMax, DinoMax)
_NEW = (PartNormRate, NormRateCap, NormRateClipGate)
STRATEGIES: dict[str, type[StoppingStrategy]] = {cls.name: cls for cls in (*_SEED, *_NEW)}
SEED_STRATEGIES = tuple(cls.name for cls in _SEED)  # the five of seed 000 §4.2, in the paper's order
NEW_STRATEGIES = tuple(cls.name for cls in _NEW)  # part-aware and combined strategies (issue 4)


def make_strategy(name: str, param: float | None = None, **options) -> StoppingStrategy:
    """Instantiate a strategy by name (unknown names get a message listing the known ones)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(STRATEGIES)}") from None
    accepted = cls.options
    unknown = [k for k in options if k not in accepted]
    if unknown and not accepted:
        raise ConfigError(f"strategy '{name}' takes no options ({', '.join(options)})")
    if unknown:
        raise ConfigError(f"strategy '{name}' takes the options {', '.join(accepted)}, not {', '.join(unknown)}")
    return cls(param, **options)


def parse_strategy_spec(text: str) -> tuple[str, float | None]:
    """'norm_rate' or 'norm_rate=0.3' -> (name, param); the name is checked against the registry."""
    name, _, value = text.partition("=")
    name = name.strip()
    if name not in STRATEGIES:
        raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(STRATEGIES)}")
    try:
        param = float(value) if value.strip() else None
    except ValueError:
        raise ConfigError(f"'{text}': the value after '=' must be a number") from None
    if param is not None and not math.isfinite(param):
        raise ConfigError(f"'{text}': the value after '=' must be a finite number, not {value.strip()}")
    return name, param


@dataclass(frozen=True)
class Outcome:
    """One strategy on one recording: its decision, or the series it lacks."""

    name: str
    param: float | None
    decision: StopDecision | None  # None: not recorded, or (live) not fired yet
    missing: list[str] = field(default_factory=list)


def stop_decisions(
    series: Series,
    wanted: Iterable[tuple[str, float | None]] | None = None,
    *,
    final: bool = True,
    options: dict[str, dict] | None = None,
) -> list[Outcome]:
    """Where each strategy stops on a recording: the one loop behind ``pixelart stops``, the app's
    chart markers and its "jump to the step" button.

    ``final=True`` decides on a finished recording (a strategy that never fired stops at the last
    step); ``final=False`` answers as the strategy would live, mid-run (None until it fires).
    ``options`` gives per-strategy keyword options, e.g. ``{"clip_max": {"patience": 500}}``.
    """
    outcomes = []
    for name, param in wanted if wanted is not None else [(n, None) for n in STRATEGIES]:
        strategy = make_strategy(name, param, **(options or {}).get(name, {}))
        missing = strategy.missing(series)
        if missing:
            decision = None
        elif final:
            decision = strategy.decide(series)
        else:
            decision = strategy.check(series, final=False)
        outcomes.append(Outcome(name, strategy.param, decision, missing))
    return outcomes


__all__ = [
    "DEFAULT_PATIENCE",
    "STRATEGIES", "SEED_STRATEGIES", "NEW_STRATEGIES", "StopDecision", "StoppingStrategy", "make_strategy",
    "parse_strategy_spec", "Outcome", "stop_decisions",
]
