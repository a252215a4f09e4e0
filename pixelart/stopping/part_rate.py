"""Part-aware norm increase rate: stop when the most degraded important part passes its limit.

The seed's conclusion (§5.2, §6): its annotator stopped as soon as one important part (a garment,
an accessory, the face) was lost or deformed, which whole-image signals average away. This strategy
applies the seed's increase-rate rule to each part separately (series ``part:<Label>``, see
``pixelart.stopping.parts``) and stops at the first step t with

    max over important parts p of r_t^p > eps,   r_t^p = (d_t^p - d_0^p) / max(d_0^p, floor)

Bundles recorded without part series get them offline from the stored label map (the evaluation
does this); without any part series the strategy never fires.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from workbench.stopping.base import Series, StopDecision, StoppingStrategy, first_above, quantile_grid
from pixelart.stopping.parts import IMPORTANT_PARTS, part_rates, series_name


def worst_part_rate(series: Series, parts: Sequence[str] = IMPORTANT_PARTS) -> tuple[np.ndarray, list[str]]:
    """Per step, the largest increase rate over the recorded important parts, and the part names."""
    return _worst(part_rates(series, parts))


def _worst(rates: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """The step-wise maximum of per-part rates (NaN where no part has a value), and the part names."""
    if not rates:
        return np.array([]), []
    names = list(rates)
    stacked = np.vstack([rates[n] for n in names])
    worst = np.full(stacked.shape[1], np.nan)
    finite = np.isfinite(stacked).any(0)
    worst[finite] = np.nanmax(stacked[:, finite], axis=0)
    return worst, names


class PartNormRate(StoppingStrategy):
    name = "part_rate"
    label = "Worst part norm rate"
    param_name = "ε (part rate)"
    default = 0.3
    needs = ()  # important parts' part:<Label> series (see ``missing``); names vary with the photo
    options = ("parts",)
    reads_parts = True

    def __init__(self, param: float | None = None, *, parts: Sequence[str] = IMPORTANT_PARTS) -> None:
        super().__init__(param)
        self.parts = tuple(parts)

    def missing(self, series: Series) -> list[str]:
        return [] if part_rates(series, self.parts) else ["part:<Label> series (record with --parts, or evaluate with masks)"]

    def series_used(self, names: Iterable[str]) -> list[str]:
        wanted = {series_name(p) for p in self.parts}
        return [n for n in names if n in wanted]

    def with_param(self, param: float | None) -> "PartNormRate":
        return type(self)(param, parts=self.parts)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        rates = part_rates(series, self.parts)  # once: the worst rate and the reason both read them
        if not rates:
            return None
        worst, names = _worst(rates)
        t = first_above(worst, self.param)
        if t is None:
            return None
        part = max(names, key=lambda n: rates[n][t] if np.isfinite(rates[n][t]) else -np.inf)
        return self._decision(t, f"part '{part}' r_t = {rates[part][t]:.3f} > {self.param:g}")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return quantile_grid([{"worst": worst_part_rate(r, self.parts)[0]} for r in runs], "worst", points)
