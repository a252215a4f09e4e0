"""``ChartCache``: the decimated chart of the trajectory shown, kept until its series change, so moving
the slider only redraws the selection. One cache belongs to one trajectory: whoever shows another
trajectory starts a new cache. The run's stream and the person's scrubs use it from two threads, so
its key and chart are read and set together under a lock."""

from __future__ import annotations

import threading
from typing import Mapping, Sequence

import numpy as np

from workbench.chart import MAX_POINTS, TrajectoryChart
from workbench.stopping import StrategySet
from workbench.trajectory import Trajectory
from ui.stops import stop_markers


class ChartCache:
    """The last chart built for one trajectory, reused while its series, markers and ranges are unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple = ()
        self._chart: TrajectoryChart | None = None

    def chart_for(
        self,
        trajectory: Trajectory,
        strategies: StrategySet,
        *,
        params: Mapping[str, float | None] | None = None,
        ranges: Sequence[tuple[int, int]] = (),
        x_max: int | None = None,
        show_stops: bool = True,
        final: bool = True,
        max_points: int = MAX_POINTS,
    ) -> TrajectoryChart:
        """The chart of the trajectory's current state (rebuilt only when something changed);
        ``show_stops=False`` leaves the strategies' markers out; ``final=False``: a run still going
        (the markers are the strategies' live decisions); ``max_points``: per curve on screen (fewer
        while a run streams, so each live redraw stays cheap for the browser)."""
        series = trajectory.series_map()  # one consistent moment, also while a run appends
        # Similarities arrive in batches after their frames, so their count is part of the state.
        filled = tuple((k, int(np.isfinite(v).sum())) for k, v in series.items())
        n = max((len(v) for v in series.values()), default=len(trajectory))
        key = (n, filled, tuple(sorted((params or {}).items())), tuple(ranges), x_max, show_stops, final, max_points)
        with self._lock:
            if key == self._key and self._chart is not None:
                return self._chart
        curves = trajectory.curves
        markers = stop_markers(strategies, series, curves, params, final=final) if show_stops else ()
        chart = TrajectoryChart(
            series, curves, stops=markers, ranges=ranges,
            x_max=x_max, max_points=max_points, revision=str(trajectory.config.get("run_id", "trajectory")),
        )
        with self._lock:
            self._key, self._chart = key, chart
        return chart
