"""Sweeps and the choice of a parameter: the grid to sweep (from the metric series only, so it carries
no label information) and leave-one-out (choose on N-1 photos, score on the held-out one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError
from pixelart.evaluation.photos import EvalPhoto
from pixelart.evaluation.scoring import StrategyScores
from pixelart.stopping import StoppingStrategy

DEFAULT_POINTS = 41
MIN_POINTS = 2  # a sweep needs both ends of its grid


def check_points(points: object) -> int:
    """The sweep grid size, a whole number of at least ``MIN_POINTS``; ConfigError otherwise."""
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < MIN_POINTS:
        raise ConfigError(f"sweep points must be a whole number of at least {MIN_POINTS}, got {points!r}")
    return int(points)


def param_grid(
    strategy: StoppingStrategy, photos: Sequence[EvalPhoto], points: int = DEFAULT_POINTS
) -> list[float | None]:
    """The parameter values to sweep (Fig. 2); a strategy without a parameter gets its one value."""
    grid = strategy.sweep_grid([p.series for p in photos], points)
    return [float(v) for v in grid] if len(grid) else [strategy.param]


@dataclass
class LooResult:
    """Leave-one-out: per held-out photo, the parameter chosen on the others and its scores there."""

    params: list[float | None]
    steps: np.ndarray
    hit: np.ndarray
    center_error: np.ndarray
    norm_error: np.ndarray
    honest: bool  # False when nothing was chosen (a given or no parameter, or one photo)

    def means(self) -> dict[str, float]:
        return {
            "hit_rate": float(self.hit.mean()),
            "rel_center_error": float(self.center_error.mean()),
            "image_norm_error": float(self.norm_error.mean()),
        }

    def param_summary(self) -> str:
        """e.g. '0.2 ×28, 0.25 ×2'."""
        counts: dict[Any, int] = {}
        for p in self.params:
            counts[p] = counts.get(p, 0) + 1
        return ", ".join(f"{format_param(p)} ×{c}" for p, c in sorted(counts.items(), key=lambda kv: -kv[1]))


def leave_one_out(scores: StrategyScores) -> LooResult:
    """Choose on N-1 photos, score on the held-out one, for every photo."""
    n = len(scores.photos)
    chosen = np.full(n, -1)
    if n >= 2:
        for i in range(n):
            chosen[i] = scores.best(np.delete(np.arange(n), i))
    else:
        chosen[:] = scores.best()  # one photo: nothing to hold out against (noted in the table)
    cols = np.arange(n)
    return LooResult(
        params=[scores.params[j] for j in chosen],
        steps=scores.steps[chosen, cols],
        hit=scores.hit[chosen, cols],
        center_error=scores.center_error[chosen, cols],
        norm_error=scores.norm_error[chosen, cols],
        honest=n >= 2 and len(scores.params) > 1 and not scores.fixed,
    )


def format_param(value: float | None) -> str:
    """A parameter as the tables print it ('-' for none)."""
    return "-" if value is None else f"{value:g}"
