"""Combinations of the seed's signals, scored beside the seed's five with the same metrics.

- ``norm_rate_cap``: the earliest of the norm increase rate (r_t > eps) and a fixed step cap N. The
  seed found most good ranges early (Fig. 3: 60 % of centres below step 1000), where the fixed step
  won; the cap keeps that while the rate still stops photos that degrade even earlier.
- ``norm_rate_clip``: the norm increase rate gated by a CLIP drop: the first t with r_t > eps at
  which CLIP similarity (last evaluated value) has also fallen more than delta below its best so
  far. The norm rises for harmless recolouring too; the gate waits for a semantic loss to confirm it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.stopping.base import Series, StopDecision, StoppingStrategy, first_above, length
from workbench.stopping.rules import NormIncreaseRate


class NormRateCap(StoppingStrategy):
    name = "norm_rate_cap"
    label = "Norm rate or step cap"
    param_name = "ε (rate)"
    default = 0.2
    needs = ("norm",)
    reads_if_present = ("rate",)  # the recorded rate, else computed from the norm
    options = ("cap",)

    def __init__(self, param: float | None = None, *, cap: int = 1000) -> None:
        super().__init__(param)
        self.cap = int(cap)

    def with_param(self, param: float | None) -> "NormRateCap":
        return type(self)(param, cap=self.cap)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        rate = NormIncreaseRate().rates(series)
        t = first_above(rate[: self.cap + 1], self.param)
        if t is not None:
            return self._decision(t, f"r_t = {rate[t]:.3f} > {self.param:g}")
        if length(series) - 1 >= self.cap:
            return self._decision(self.cap, f"reached the cap, step {self.cap}")
        return None

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return NormIncreaseRate().sweep_grid(runs, points)


def clip_drop(series: Series) -> np.ndarray:
    """Per step, how far the last evaluated CLIP similarity lies below its best so far (NaN before any)."""
    clip = np.asarray(series.get("clip", []), np.float64)
    if clip.size == 0:
        return clip
    valid = np.isfinite(clip)
    # carry the last evaluated value forward: encoders may run only every k steps
    last_index = np.maximum.accumulate(np.where(valid, np.arange(clip.size), -1))
    current = np.where(last_index >= 0, clip[np.maximum(last_index, 0)], np.nan)
    best = np.fmax.accumulate(np.where(valid, clip, -np.inf))
    return np.where(last_index >= 0, best - current, np.nan)


class NormRateClipGate(StoppingStrategy):
    name = "norm_rate_clip"
    label = "Norm rate gated by CLIP drop"
    param_name = "ε (rate)"
    default = 0.2
    needs = ("norm", "clip")
    reads_if_present = ("rate",)  # the recorded rate, else computed from the norm
    options = ("delta",)

    def __init__(self, param: float | None = None, *, delta: float = 0.02) -> None:
        super().__init__(param)
        self.delta = float(delta)

    def with_param(self, param: float | None) -> "NormRateClipGate":
        return type(self)(param, delta=self.delta)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        rate, drop = NormIncreaseRate().rates(series), clip_drop(series)
        if drop.size == 0:
            return None
        n = min(len(rate), len(drop))
        if not final:
            # online, the newest steps may still wait for their batched CLIP values: decide only
            # where CLIP is known, so the online answer equals the offline one
            known = np.flatnonzero(np.isfinite(np.asarray(series["clip"], np.float64)[:n]))
            n = int(known[-1]) + 1 if known.size else 0
        both = (rate[:n] > self.param) & (drop[:n] > self.delta)  # NaN compares False
        if not both.any():
            return None
        t = int(np.argmax(both))
        return self._decision(t, f"r_t = {rate[t]:.3f} > {self.param:g} and CLIP {drop[t]:.3f} below its best")

    def sweep_grid(self, runs: Sequence[Series], points: int = 41) -> np.ndarray:
        return NormIncreaseRate().sweep_grid(runs, points)
