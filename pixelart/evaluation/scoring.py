"""Scoring stops against labeled ranges: one stop (hit, relative centre error, reference range) and
a strategy's (parameters x photos) matrices of stops and scores, with the best-parameter rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from pixelart.evaluation.photos import EvalPhoto
from pixelart.stopping import StoppingStrategy

Range = tuple[int, int]


@dataclass(frozen=True)
class StopScore:
    """How one stop step compares with a photo's labeled ranges."""

    step: int
    hit: bool
    center_error: float
    range: Range  # the reference range
    center: float
    center_step: int  # the frame used as x_c


def reference_range(step: int, ranges: Sequence[Range]) -> Range:
    """The range t̂ is judged against (see the package doc for the rule)."""
    if not ranges:
        raise ValueError("no ranges")

    def key(r: Range) -> tuple:
        s, e = r
        return (max(s - step, step - e, 0), abs(step - (s + e) / 2), s, e)

    return min(ranges, key=key)


def score_stop(step: int, ranges: Sequence[Range]) -> StopScore:
    """Hit and relative centre error of stop step ``step`` against one annotator's ranges."""
    s, e = reference_range(step, ranges)
    center = (s + e) / 2
    hit = any(a <= step <= b for a, b in ranges)
    return StopScore(int(step), hit, abs(step - center) / max(e - s, 1), (s, e), center, (s + e) // 2)


@dataclass
class StrategyScores:
    """One strategy over a parameter grid on one reference's photos: (params x photos) matrices."""

    strategy: str
    label: str
    param_name: str | None
    params: list[float | None]
    photos: list[EvalPhoto]
    steps: np.ndarray  # (P, N) int
    fired: np.ndarray  # (P, N) bool
    hit: np.ndarray  # (P, N) bool
    center_error: np.ndarray  # (P, N)
    norm_error: np.ndarray  # (P, N)
    ref_range: np.ndarray  # (P, N, 2)
    center_step: np.ndarray  # (P, N)
    fixed: bool = False  # the parameter was given, not chosen

    def means(self, columns: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        """Per parameter: hit rate, mean relative centre error, mean image norm error."""
        return {
            "hit_rate": self.hit[:, columns].mean(1),
            "rel_center_error": self.center_error[:, columns].mean(1),
            "image_norm_error": self.norm_error[:, columns].mean(1),
        }

    def best(self, columns: np.ndarray | slice = slice(None)) -> int:
        """Index of the best parameter on these photos (the package doc's criterion)."""
        m = self.means(columns)
        order = np.lexsort((
            np.arange(len(self.params)),
            np.round(m["image_norm_error"], 9),
            np.round(m["rel_center_error"], 9),
            -np.round(m["hit_rate"], 9),
        ))
        return int(order[0])


def stop_matrix(
    strategy: StoppingStrategy, params: Sequence[float | None], photos: Sequence[EvalPhoto]
) -> tuple[np.ndarray, np.ndarray]:
    """(P, N) stop steps and whether the criterion fired (else the run's last step is used)."""
    steps = np.zeros((len(params), len(photos)), int)
    fired = np.zeros((len(params), len(photos)), bool)
    for i, param in enumerate(params):
        s = strategy.with_param(param)
        for j, photo in enumerate(photos):
            d = s.decide(photo.series)
            steps[i, j], fired[i, j] = d.step, d.fired
    return steps, fired


def score_matrix(
    strategy: StoppingStrategy, params: Sequence[float | None], photos: Sequence[EvalPhoto],
    ranges: Mapping[str, Sequence[Range]], steps: np.ndarray, fired: np.ndarray, *, fixed: bool = False,
) -> StrategyScores:
    """Hit, centre error and image norm error of every (parameter, photo) stop."""
    shape = steps.shape
    hit, ce, ne = np.zeros(shape, bool), np.zeros(shape), np.zeros(shape)
    ref, cstep = np.zeros((*shape, 2), int), np.zeros(shape, int)
    for j, photo in enumerate(photos):
        for i in range(shape[0]):
            sc = score_stop(int(steps[i, j]), ranges[photo.bundle_id])
            hit[i, j], ce[i, j], ref[i, j], cstep[i, j] = sc.hit, sc.center_error, sc.range, sc.center_step
            ne[i, j] = photo.distance(sc.step, sc.center_step)
    return StrategyScores(strategy.name, strategy.label, strategy.param_name, list(params), list(photos),
                          steps, fired, hit, ce, ne, ref, cstep, fixed)

