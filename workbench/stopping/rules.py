"""Generic stopping rules over named series; a back end subclasses them with its series and defaults.

- ``FixedStep``: stop at step N.
- ``Threshold``: the first step whose ``signal`` value exceeds eps (seed 000 §3.1's norm threshold).
- ``IncreaseRate``: the first step whose relative increase of ``signal`` exceeds eps (the norm
  increase rate; a recorded ``rate_signal`` series is read when present).
- ``SeriesMax``: where ``signal`` is largest (seed 000 §3.2's semantic maximum). Offline this is the
  argmax over the whole run; online the maximum is only known in hindsight, so the rule fires once
  the best value so far is ``patience`` evaluated steps old (``patience=None`` never fires online).
"""

from __future__ import annotations

import math
from typing import ClassVar, Sequence

import numpy as np

from workbench.drift import increase_rate
from workbench.stopping.base import Series, StopDecision, StoppingStrategy, first_above, length, quantile_grid

DEFAULT_PATIENCE = 500  # steps the best value must stay unbeaten before a live SeriesMax decision


class FixedStep(StoppingStrategy):
    name = "fixed_step"
    label = "Fixed step"
    param_name = "N"
    default = 1000.0
    needs = ("norm",)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        n = math.floor(self.param)  # the step whose frame a non-integer N falls in, as the step index is
        if length(series) - 1 >= n:
            return self._decision(n, f"reached step {n}")
        return None

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        longest = max((length(r) for r in runs), default=1) - 1
        return np.unique(np.rint(np.linspace(0, max(longest, 1), points)))


class Threshold(StoppingStrategy):
    signal: ClassVar[str] = "norm"
    symbol: ClassVar[str] = "d_t"

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        values = series[self.signal]
        t = first_above(values, self.param)
        return None if t is None else self._decision(t, f"{self.symbol} = {values[t]:.2f} > {self.param:g}")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return quantile_grid(runs, self.signal, points)


class IncreaseRate(StoppingStrategy):
    signal: ClassVar[str] = "norm"
    rate_signal: ClassVar[str] = "rate"
    marker_series = "rate"
    symbol: ClassVar[str] = "r_t"

    def rates(self, series: Series) -> np.ndarray:
        """The recorded rate, or one computed from the signal."""
        if self.rate_signal in series:
            return np.asarray(series[self.rate_signal])
        return increase_rate(series[self.signal])

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        rate = self.rates(series)
        t = first_above(rate, self.param)
        return None if t is None else self._decision(t, f"{self.symbol} = {rate[t]:.3f} > {self.param:g}")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return quantile_grid([{"rate": self.rates(r)} for r in runs], "rate", points)


class SeriesMax(StoppingStrategy):
    signal: ClassVar[str] = ""
    options = ("patience",)

    def __init__(self, param: float | None = None, *, patience: int | None = None) -> None:
        super().__init__(param)
        self.patience = patience

    def with_param(self, param: float | None) -> "SeriesMax":
        return type(self)(param, patience=self.patience)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        values = np.asarray(series.get(self.signal, []), dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(values))
        if valid.size == 0:
            return None
        best = int(valid[np.argmax(values[valid])])
        reason = f"{self.label.split(' ')[0]} peaks at {values[best]:.4f}"
        if final:
            return self._decision(best, reason)
        if self.patience is not None and valid[-1] - best >= self.patience:
            return self._decision(best, reason + f" (no gain for {self.patience} steps)")
        return None


class NormThreshold(Threshold):
    name = "norm_threshold"
    label = "Norm threshold"
    param_name = "ε (L2)"
    default = 60.0  # d_t at 256 px on the long side in RGB [0, 1]; tune with `evaluate`
    needs = ("norm",)


class NormIncreaseRate(IncreaseRate):
    name = "norm_rate"
    label = "Norm increase rate"
    param_name = "ε (rate)"
    default = 0.2
    needs = ("norm",)
    reads_if_present = ("rate",)  # the recorded rate, else computed from the norm


GENERIC_RULES: tuple[type[StoppingStrategy], ...] = (FixedStep, NormThreshold, NormIncreaseRate)
"""Rules every back end can offer: each reads only the ``norm`` / ``rate`` series (``workbench.drift``)."""
