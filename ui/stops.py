"""Stopping strategies as the viewer uses them: where each strategy of a back end's ``StrategySet``
stops on a trajectory, as chart markers and as the step "Jump to its step" goes to.

Decisions are the set's ``decisions`` (the loop behind a CLI's ``stops`` command). While a run goes
they are the strategies' live answers (``final=False``) with the patience a live ``--stop-on`` uses, so
a marker appears where such a run would have stopped; on a finished run or a loaded bundle they are the
offline decisions on every recorded step.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from workbench.chart import StopMarker, marker_metric
from workbench.records import Curve
from workbench.stopping import StrategySet


def stop_markers(
    strategies: StrategySet, series: Mapping[str, np.ndarray], curves: Sequence[Curve],
    params: Mapping[str, float | None] | None = None, *, final: bool = True,
) -> list[StopMarker]:
    """A marker for every strategy that fires (``params``: non-default values by strategy)."""
    params = params or {}
    markers = []
    for outcome in strategies.decisions(series, [(name, params.get(name)) for name in strategies], final=final):
        decision = outcome.decision
        if decision is None or not decision.fired:
            continue
        cls = strategies.classes[outcome.name]
        markers.append(StopMarker(outcome.name, cls.label, decision.step, marker_metric(cls.marker_curve(), curves),
                                  decision.reason))
    return markers
