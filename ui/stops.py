"""Stopping strategies as the viewer uses them: the dropdown's choices, and where each strategy stops on
a trajectory, as chart markers and as the step "Jump to its step" goes to.

Decisions are the engine's ``stop_decisions`` (the loop behind ``python -m pixelart stops``). While a
run goes they are the strategies' live answers (``final=False``) with the patience a live
``--stop-on`` uses, so a marker appears where such a run would have stopped; on a finished run or a
loaded bundle they are the offline decisions on every recorded step, as ``pixelart stops`` prints them.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from pixelart.plots import StopMarker, marker_metric
from pixelart.stopping import DEFAULT_PATIENCE, STRATEGIES, Outcome, stop_decisions


def strategy_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, in the seed's order."""
    return [(cls.label, name) for name, cls in STRATEGIES.items()]


def parameter_label(name: str) -> str:
    """How the parameter field is labelled for a strategy, with its default."""
    cls = STRATEGIES[name]
    if cls.param_name is None:
        return f"{cls.label}: no parameter"
    return f"{cls.param_name} (blank = default {cls.default:g})"


def live_options() -> dict[str, dict]:
    """The options a live run gives its strategies (the semantic maxima's patience)."""
    return {name: {"patience": DEFAULT_PATIENCE} for name, cls in STRATEGIES.items()
            if "patience" in cls.options}


def decisions(
    series: Mapping[str, np.ndarray], wanted: list[tuple[str, float | None]] | None = None, *, final: bool = True,
) -> list[Outcome]:
    """The engine's decisions (every strategy when ``wanted`` is None); ``final=False``: live, mid-run."""
    return stop_decisions(series, wanted, final=final, options=None if final else live_options())


def stop_markers(
    series: Mapping[str, np.ndarray], params: Mapping[str, float | None] | None = None, *, final: bool = True,
) -> list[StopMarker]:
    """A marker for every strategy that fires (``params``: non-default values by strategy)."""
    params = params or {}
    markers = []
    for outcome in decisions(series, [(name, params.get(name)) for name in STRATEGIES], final=final):
        decision = outcome.decision
        if decision is None or not decision.fired:
            continue
        cls = STRATEGIES[outcome.name]
        markers.append(StopMarker(outcome.name, cls.label, decision.step, marker_metric(outcome.name, cls.needs),
                                  decision.reason))
    return markers
