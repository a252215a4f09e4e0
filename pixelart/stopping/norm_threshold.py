"""Norm threshold (seed 000 §3.1): stop at the first step t with d_t = ||x_t - x_input||_2 > eps."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pixelart.stopping.base import Series, StopDecision, StoppingStrategy, first_above, quantile_grid


class NormThreshold(StoppingStrategy):
    name = "norm_threshold"
    label = "Norm threshold"
    param_name = "ε (L2)"
    # d_t is measured at 256 x 256 in RGB [0, 1] (max about 443); tune with `pixelart evaluate`
    default = 60.0
    needs = ("norm",)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        t = first_above(series["norm"], self.param)
        return None if t is None else self._decision(t, f"d_t = {series['norm'][t]:.2f} > {self.param:g}")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return quantile_grid(runs, "norm", points)
