"""Norm increase rate (seed 000 §3.1): stop at the first t with r_t = (d_t - d_0) / d_0 > eps.

Relative to the initial norm, so the same eps suits photos, palettes and sizes of different scale.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pixelart.metrics import increase_rate
from pixelart.stopping.base import Series, StopDecision, StoppingStrategy, first_above, quantile_grid


def rate_series(series: Series) -> np.ndarray:
    """The recorded increase rate, or one computed from the norm series."""
    return np.asarray(series["rate"]) if "rate" in series else increase_rate(series["norm"])


class NormIncreaseRate(StoppingStrategy):
    name = "norm_rate"
    label = "Norm increase rate"
    param_name = "ε (rate)"
    default = 0.2
    needs = ("norm",)
    reads_if_present = ("rate",)  # the recorded rate, else computed from the norm

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        rate = rate_series(series)
        t = first_above(rate, self.param)
        return None if t is None else self._decision(t, f"r_t = {rate[t]:.3f} > {self.param:g}")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return quantile_grid([{"rate": rate_series(r)} for r in runs], "rate", points)
