"""Fixed step: stop at step N, whatever the image looks like (the seed's simplest baseline)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pixelart.stopping.base import Series, StopDecision, StoppingStrategy, _length


class FixedStep(StoppingStrategy):
    name = "fixed_step"
    label = "Fixed step"
    param_name = "N"
    default = 1000.0
    needs = ("norm",)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        n = int(round(self.param))
        if _length(series) - 1 >= n:
            return self._decision(n, f"reached step {n}")
        return None

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        longest = max((_length(r) for r in runs), default=1) - 1
        return np.unique(np.rint(np.linspace(0, max(longest, 1), points)))
