"""Stopping strategies as the viewer uses them: where each one stops on a trajectory, as chart markers.

Decisions are the strategies' own offline ``decide`` on the steps recorded so far, so a marker sits
exactly where ``python -m pixelart stops`` would put it on the saved bundle.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from pixelart.errors import ConfigError
from pixelart.plots import StopMarker, marker_metric
from pixelart.stopping import STRATEGIES, StopDecision, make_strategy
from pixelart.trajectory import Trajectory


def strategy_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, in the seed's order."""
    return [(cls.label, name) for name, cls in STRATEGIES.items()]


def parameter_label(name: str) -> str:
    """How the parameter field is labelled for a strategy, with its default."""
    cls = STRATEGIES[name]
    if cls.param_name is None:
        return f"{cls.label}: no parameter"
    return f"{cls.param_name} (blank = default {cls.default:g})"


def recorded_series(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Every metric series of the trajectory, aligned to its recorded steps."""
    return {name: trajectory.series(name) for name in trajectory.series_names}


def unrecorded(name: str, series: Mapping[str, np.ndarray]) -> list[str]:
    """The series a strategy needs that hold no value in this trajectory."""
    return [k for k in STRATEGIES[name].needs if k not in series or not np.isfinite(series[k]).any()]


def decide(trajectory: Trajectory, name: str, param: float | None = None) -> StopDecision:
    """Where strategy ``name`` stops on the recorded steps; ConfigError if its series were not recorded."""
    strategy = make_strategy(name, param)  # unknown names get the list of known ones
    series = recorded_series(trajectory)
    missing = unrecorded(name, series)
    if missing:
        raise ConfigError(f"{strategy.label} needs {', '.join(missing)} values, which this run did not record")
    return strategy.decide(series)


def stop_markers(trajectory: Trajectory, params: Mapping[str, float | None] | None = None) -> list[StopMarker]:
    """A marker for every strategy that fires on the recorded steps (``params``: non-default values)."""
    params = params or {}
    series = recorded_series(trajectory)
    markers = []
    for name, cls in STRATEGIES.items():
        if unrecorded(name, series):
            continue
        decision = make_strategy(name, params.get(name)).decide(series)
        if not decision.fired:
            continue
        markers.append(StopMarker(name, cls.label, decision.step, marker_metric(name, cls.needs), decision.reason))
    return markers
