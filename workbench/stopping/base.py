"""What every stopping strategy shares: the decision record and the online/offline contract.

A strategy is a pure function of the metric series recorded so far. Online, the caller asks
``check(series, final=False)`` after each step and stops iterating the run when it returns a
decision; offline, ``decide(series)`` looks at a whole recorded series. One implementation serves
both modes, so a strategy stops at the same step whether it ran live or on a saved bundle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterable, Mapping, Sequence

import numpy as np

Series = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class StopDecision:
    """Where a strategy stops. ``fired`` is False when its criterion never held and the run's last
    recorded step is used instead (what a real run without the strategy would have produced)."""

    strategy: str
    step: int
    fired: bool
    param: float | None
    reason: str


class StoppingStrategy(ABC):
    """Base class; subclasses set the class attributes and implement ``check``."""

    name: ClassVar[str]
    label: ClassVar[str]  # how plots and tables name it
    param_name: ClassVar[str | None] = None  # the swept parameter (Fig. 2), None if it has none
    default: ClassVar[float | None] = None
    needs: ClassVar[tuple[str, ...]] = ()  # metric series it reads
    reads_if_present: ClassVar[tuple[str, ...]] = ()  # series it prefers when recorded (e.g. "rate")
    options: ClassVar[tuple[str, ...]] = ()  # keyword options besides the parameter
    marker_series: ClassVar[str | None] = None  # the curve its chart marker sits on (default: needs[0])
    reads_parts: ClassVar[bool] = False  # reads per-part series (pixel art's part:<Label>), not fixed names

    def __init__(self, param: float | None = None) -> None:
        self.param = self.default if param is None else float(param)

    @classmethod
    def marker_curve(cls) -> str:
        """The series whose curve its chart marker sits on."""
        return cls.marker_series or (cls.needs[0] if cls.needs else "norm")

    @abstractmethod
    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        """The decision if the strategy stops within the steps recorded so far, else None."""

    def decide(self, series: Series) -> StopDecision:
        """Offline decision on a complete series; falls back to the last step if it never fires."""
        decision = self.check(series, final=True)
        if decision is not None:
            return decision
        last = max(0, length(series) - 1)
        return StopDecision(self.name, last, False, self.param, "never fired: last recorded step")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        """Parameter values to sweep for Fig. 2 (empty for strategies without a parameter)."""
        return np.array([])

    def missing(self, series: Series) -> list[str]:
        """Series this strategy needs that a recording lacks (empty when it can decide)."""
        return [k for k in self.needs if k not in series or not np.isfinite(np.asarray(series[k], float)).any()]

    def series_used(self, names: Iterable[str]) -> list[str]:
        """Which of a recording's series ``check`` looks at: an online caller copies only these each step."""
        wanted = {*self.needs, *self.reads_if_present}
        return [n for n in names if n in wanted]

    def with_param(self, param: float | None) -> "StoppingStrategy":
        """A copy with another parameter value."""
        return type(self)(param)

    def _decision(self, step: int, reason: str) -> StopDecision:
        return StopDecision(self.name, int(step), True, self.param, reason)


def length(series: Series) -> int:
    return max((len(v) for v in series.values()), default=0)


def first_above(values: np.ndarray, threshold: float) -> int | None:
    """Index of the first value strictly above ``threshold`` (NaNs never count), or None."""
    above = np.asarray(values, dtype=np.float64) > threshold
    return int(np.argmax(above)) if above.any() else None


def quantile_grid(runs: Sequence[Series], key: str, points: int) -> np.ndarray:
    """Thresholds that spread each run's stop over its steps, robust to a run with extreme values.

    A threshold rule stops where the running maximum of its metric first exceeds ε, so the ε that
    stops a run a fraction q into it is the q-quantile of that running maximum. The grid is, for
    ``points`` evenly spaced q, the median over runs of these quantiles: one run with a tiny d_0 (rates
    of several hundred) moves a median little, where the percentiles of all runs' values pooled
    followed it and left most runs stopping at step 0.
    """
    levels = np.linspace(0.0, 1.0, points)
    per_run = []
    for run in runs:
        values = np.asarray(run.get(key, []), dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            per_run.append(np.quantile(np.maximum.accumulate(values), levels))
    if not per_run:
        return np.array([])
    return np.unique(np.median(np.stack(per_run), axis=0))
