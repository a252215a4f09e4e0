"""The pixel-art stopping strategies: the seed's five (fixed step, norm threshold, norm increase rate,
CLIP maximum, DINOv2 maximum) and this project's additions (a part-aware rate and two combinations of
the seed's signals). The generic rules live in ``workbench.stopping``; ``PIXELART_STRATEGIES`` is the
set the CLI's ``--stop-on``, the app and the evaluation read.
"""

from __future__ import annotations

from workbench.stopping import DEFAULT_PATIENCE, Outcome, StopDecision, StoppingStrategy, StrategySet
from workbench.stopping.rules import FixedStep, NormIncreaseRate, NormThreshold, SeriesMax
from pixelart.stopping.combined import NormRateCap, NormRateClipGate
from pixelart.stopping.part_rate import PartNormRate


class ClipMax(SeriesMax):
    name = "clip_max"
    label = "CLIP similarity maximum"
    signal = "clip"
    needs = ("clip",)


class DinoMax(SeriesMax):
    name = "dino_max"
    label = "DINOv2 similarity maximum"
    signal = "dino"
    needs = ("dino",)


_SEED = (FixedStep, NormThreshold, NormIncreaseRate, ClipMax, DinoMax)
_NEW = (PartNormRate, NormRateCap, NormRateClipGate)
PIXELART_STRATEGIES = StrategySet((*_SEED, *_NEW))
STRATEGIES = PIXELART_STRATEGIES.classes  # name -> class, in the seed's order then this project's
SEED_STRATEGIES = tuple(cls.name for cls in _SEED)  # the five of seed 000 §4.2, in the paper's order
NEW_STRATEGIES = tuple(cls.name for cls in _NEW)  # part-aware and combined strategies (issue 4)

make_strategy = PIXELART_STRATEGIES.make
parse_strategy_spec = PIXELART_STRATEGIES.parse_spec
stop_decisions = PIXELART_STRATEGIES.decisions

__all__ = [
    "DEFAULT_PATIENCE", "PIXELART_STRATEGIES", "STRATEGIES", "SEED_STRATEGIES", "NEW_STRATEGIES", "ClipMax", "DinoMax",
    "Outcome", "StopDecision", "StoppingStrategy", "make_strategy", "parse_strategy_spec", "stop_decisions",
]
