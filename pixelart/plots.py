"""Plotly figures of a trajectory: the metric curves against the step, stopping points, a chosen step.

The chart has two rows sharing the step axis: the L2 norm d_t to the photo (left axis) with its
increase rate r_t (right axis, in percent) on top, and the CLIP / DINOv2 cosine similarity to the photo
below. r_t = (d_t - d_0) / d_0 is affine in d_t, so with both axes fitted to their data the two curves
coincide: the dotted rate line (same colour) lies on the norm line and the right axis reads it as a
rate. Each stopping strategy's step is a dashed vertical line across both rows with its name and a
diamond on its curve, the selected step a solid line with dots, and labelled step ranges (the Annotate
tab's) shaded bands.

Figures are built from plain dicts and wrapped without validation: ``make_subplots`` / ``add_vline``
validate on every call and take over 100 ms, too slow for a slider (the tests validate the dicts).
Long series are decimated for display by keeping each bucket's minimum and maximum, so spikes
survive; the steps of markers and ranges are always kept, and markers and the selection are drawn at
their exact step and value from the full series.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

MAX_POINTS = 1200  # per curve on screen; more adds bytes and render time, not visible detail

# metric -> (legend label, y axis, colour, dash); y / y2 share the top row, y3 is the bottom row
CURVES: dict[str, tuple[str, str, str, str]] = {
    "norm": ("L2 norm d<sub>t</sub>", "y", "#1f77b4", "solid"),
    "rate": ("increase rate r<sub>t</sub> (right axis)", "y2", "#1f77b4", "dot"),
    "clip": ("CLIP similarity", "y3", "#d62728", "solid"),
    "dino": ("DINOv2 similarity", "y3", "#2ca02c", "solid"),
}
_STOP_COLOURS = {
    "fixed_step": "#8c564b",
    "norm_threshold": "#1f77b4",
    "norm_rate": "#9467bd",
    "clip_max": "#d62728",
    "dino_max": "#2ca02c",
}
_OTHER_COLOURS = ("#ff7f0e", "#17becf", "#bcbd22", "#e377c2")
_MARKER_METRIC = {"norm_rate": "rate"}  # strategies whose marker sits on another curve than their first series
_SELECTED_COLOUR = "#111111"
_RANGE_COLOUR = "rgba(255, 193, 7, 0.25)"
_TOP_ROW, _BOTTOM_ROW = [0.56, 1.0], [0.0, 0.44]
_LABEL_SHIFT_PX = 15  # labels of stops at nearby steps are stacked this far apart
_NEARBY = 0.25  # stops closer than this fraction of the axis get their labels on separate rows


@dataclass(frozen=True)
class StopMarker:
    """Where one stopping strategy stops; ``metric`` is the curve its marker sits on."""

    name: str  # strategy name, e.g. "norm_rate" (picks the colour)
    label: str  # shown on the chart, e.g. "Norm increase rate"
    step: int
    metric: str = "norm"
    reason: str = ""


def marker_metric(name: str, needs: Sequence[str] = (), recorded: Iterable[str] | None = None) -> str:
    """The curve a strategy's stop marker sits on: the signal it reads where that is drawn (and, given
    ``recorded`` series names, recorded), else the norm."""
    metric = _MARKER_METRIC.get(name, needs[0] if needs else "norm")
    if metric not in CURVES or (recorded is not None and metric not in set(recorded)):
        return "norm"  # e.g. per-part series are not drawn; a bundle may lack the rate series
    return metric


def decimate_indices(values: np.ndarray, max_points: int = MAX_POINTS, keep: Iterable[int] = ()) -> np.ndarray:
    """Sorted indices of ``values`` to draw: all of them when few, else each bucket's min and max.

    About ``max_points`` indices are returned, plus ``keep``, the first and the last. NaNs never win a
    bucket unless the whole bucket is NaN, which then shows as a gap.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    size = -(-n // buckets)
    grid = np.full(buckets * size, np.nan)
    grid[:n] = values
    grid = grid.reshape(buckets, size)
    finite = np.isfinite(grid)
    starts = np.arange(buckets) * size
    lows = starts + np.where(finite, grid, np.inf).argmin(axis=1)
    highs = starts + np.where(finite, grid, -np.inf).argmax(axis=1)
    extra = np.fromiter((i for i in keep if 0 <= i < n), dtype=np.int64)
    idx = np.concatenate([lows, highs, [0, n - 1], extra])
    return np.unique(idx[idx < n])


class TrajectoryChart:
    """The decimated curves and fixed decorations of one trajectory state, drawable at any selected step.

    Build it once per state of the series; ``figure(selected)`` only adds the selection, so a slider's
    chart update costs a few milliseconds even for 10,000-step runs.
    """

    def __init__(
        self,
        series: Mapping[str, np.ndarray],
        *,
        stops: Sequence[StopMarker] = (),
        ranges: Sequence[tuple[int, int]] = (),
        x_max: int | None = None,
        max_points: int = MAX_POINTS,
        title: str | None = None,
        revision: str = "trajectory",
    ) -> None:
        # Copies: a running trajectory keeps writing into the arrays it hands out.
        self.series = {k: np.array(v, dtype=np.float64) for k, v in series.items() if k in CURVES}
        self.length = max((len(v) for v in self.series.values()), default=0)
        self.stops = [m for m in stops if self._value_at(m.metric, m.step) is not None]
        self.ranges = [(int(min(s, e)), int(max(s, e))) for s, e in ranges]
        keep = [m.step for m in self.stops] + [i for r in self.ranges for i in r]
        self._traces = [self._curve(name, values, max_points, keep) for name, values in self.series.items()]
        self._traces += [self._stop_trace(i, m) for i, m in enumerate(self.stops)]
        shapes = [self._range_shape(s, e) for s, e in self.ranges]
        shapes += [_vline(m.step, _stop_colour(m.name, i), "dash", 1.5) for i, m in enumerate(self.stops)]
        labels, levels = self._stop_labels(x_max)
        self._layout = self._base_layout(shapes, labels, levels, x_max, title, revision)

    def figure(self, selected: int | None = None) -> go.Figure:
        """The chart, with ``selected`` (when it is a recorded step) marked by a solid line and dots."""
        layout, traces = dict(self._layout), list(self._traces)
        if selected is not None and 0 <= selected < self.length:
            layout["shapes"] = [*layout["shapes"], _vline(selected, _SELECTED_COLOUR, "solid", 2.0)]
            layout["annotations"] = [*layout["annotations"], dict(
                x=selected, xref="x2", y=0, yref="paper", yanchor="bottom", yshift=2, text=f"step {selected}",
                showarrow=False, font=dict(size=11, color=_SELECTED_COLOUR), bgcolor="rgba(255,255,255,0.85)",
            )]
            traces += self._selected_traces(selected)
        return go.Figure(data=traces, layout=layout, _validate=False)

    # -- traces -----------------------------------------------------------------------------------
    def _value_at(self, metric: str, step: int) -> float | None:
        values = self.series.get(metric)
        if values is None or not 0 <= step < len(values) or not np.isfinite(values[step]):
            return None
        return float(values[step])

    @staticmethod
    def _curve(name: str, values: np.ndarray, max_points: int, keep: list[int]) -> dict:
        label, axis, colour, dash = CURVES[name]
        idx = decimate_indices(values, max_points, keep)
        return dict(
            type="scatter", mode="lines", name=label, x=idx, y=values[idx], xaxis=_xaxis(axis), yaxis=axis,
            line=dict(color=colour, dash=dash, width=1.6), connectgaps=False, meta=name,
            hovertemplate="step %{x}<br>" + _plain(label) + " %{y:.4g}<extra></extra>",
        )

    def _stop_trace(self, i: int, marker: StopMarker) -> dict:
        axis = CURVES[marker.metric][1]
        return dict(
            type="scatter", mode="markers", name=f"{marker.label} → step {marker.step}",
            x=[marker.step], y=[self._value_at(marker.metric, marker.step)], xaxis=_xaxis(axis), yaxis=axis,
            marker=dict(symbol="diamond", size=11, color=_stop_colour(marker.name, i),
                        line=dict(color="white", width=1)),
            legendgroup="stops", meta=f"stop:{marker.name}",
            hovertemplate=f"{marker.label}: step {marker.step}<br>{marker.reason}<extra></extra>",
        )

    def _selected_traces(self, step: int) -> list[dict]:
        traces = []
        for name in self.series:
            value = self._value_at(name, step)
            if value is None:
                continue
            label, axis, colour, _ = CURVES[name]
            traces.append(dict(
                type="scatter", mode="markers", x=[step], y=[value], xaxis=_xaxis(axis), yaxis=axis,
                name=f"step {step}", legendgroup="selected", showlegend=not traces, meta="selected",
                marker=dict(size=8, color=colour, line=dict(color=_SELECTED_COLOUR, width=1.5)),
                hovertemplate=f"step {step}<br>{_plain(label)} %{{y:.4g}}<extra></extra>",
            ))
        return traces

    # -- decorations ------------------------------------------------------------------------------
    @staticmethod
    def _range_shape(start: int, end: int) -> dict:
        return dict(type="rect", x0=start, x1=end, xref="x2", y0=0, y1=1, yref="paper",
                    fillcolor=_RANGE_COLOUR, line=dict(width=0), layer="below")

    def _stop_labels(self, x_max: int | None) -> tuple[list[dict], int]:
        """Names above the chart, stacked where stops are close enough for their labels to overlap."""
        labels, placed, levels = [], [], 0
        width = max(x_max or 0, self.length - 1, 1)
        for i, m in sorted(enumerate(self.stops), key=lambda im: im[1].step):
            taken = {lvl for step, lvl in placed if abs(step - m.step) < _NEARBY * width}
            level = min(set(range(len(taken) + 1)) - taken)
            placed.append((m.step, level))
            levels = max(levels, level + 1)
            labels.append(dict(
                x=m.step, xref="x2", y=1, yref="paper", yanchor="bottom", yshift=2 + _LABEL_SHIFT_PX * level,
                text=m.label, showarrow=False, font=dict(size=10, color=_stop_colour(m.name, i)),
                bgcolor="rgba(255,255,255,0.75)",
            ))
        return labels, levels

    def _base_layout(
        self, shapes: list[dict], annotations: list[dict], levels: int, x_max: int | None, title: str | None,
        revision: str,
    ) -> dict:
        has_semantic = any(np.isfinite(self.series[k]).any() for k in ("clip", "dino") if k in self.series)
        if not self.length:
            annotations.append(_note("no steps recorded yet", 0.5))
        elif not has_semantic:
            annotations.append(_note("no CLIP / DINOv2 values recorded (yet)", 0.22))
        x_range = {"range": [0, max(x_max, 1)]} if x_max is not None else {}
        layout = dict(
            height=440,
            margin=dict(l=60, r=60, t=20 + _LABEL_SHIFT_PX * levels + (28 if title else 0), b=40),
            hovermode="closest",
            uirevision=revision,  # keeps the user's zoom while the chart is redrawn
            legend=dict(orientation="h", x=0, y=-0.17, yanchor="top", font=dict(size=10)),
            xaxis=dict(domain=[0, 1], anchor="y", matches="x2", showticklabels=False),
            xaxis2=dict(domain=[0, 1], anchor="y3", title=dict(text="step"), **x_range),
            yaxis=dict(domain=_TOP_ROW, anchor="x", title=dict(text="L2 norm d<sub>t</sub>")),
            yaxis2=dict(overlaying="y", side="right", anchor="x", showgrid=False, tickformat=".0%",
                        title=dict(text="rate r<sub>t</sub>")),
            yaxis3=dict(domain=_BOTTOM_ROW, anchor="x2", title=dict(text="cosine similarity")),
            shapes=shapes,
            annotations=annotations,
            template=_template(),
        )
        if title:
            # at the very top: the stop labels stacked above the plot fill the rest of the top margin
            layout["title"] = dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top",
                                   pad=dict(t=8))
        return layout


def trajectory_figure(
    series: Mapping[str, np.ndarray],
    *,
    stops: Sequence[StopMarker] = (),
    selected: int | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    x_max: int | None = None,
    max_points: int = MAX_POINTS,
    title: str | None = None,
) -> go.Figure:
    """The trajectory chart in one call (keep a ``TrajectoryChart`` to redraw it cheaply at other steps)."""
    chart = TrajectoryChart(series, stops=stops, ranges=ranges, x_max=x_max, max_points=max_points, title=title)
    return chart.figure(selected)


def empty_figure(message: str = "run or load a trajectory to see its curves") -> go.Figure:
    """A blank chart with a hint, shown before any trajectory exists."""
    figure = TrajectoryChart({}).figure()
    figure.layout.annotations = [_note(message, 0.5)]
    figure.update_xaxes(visible=False).update_yaxes(visible=False)
    return figure


@functools.cache
def _template() -> dict:
    # Resolving a named template costs ~15 ms per figure; resolve it once per process.
    return pio.templates["plotly_white"].to_plotly_json()


def _vline(step: int, colour: str, dash: str, width: float) -> dict:
    return dict(type="line", x0=step, x1=step, xref="x2", y0=0, y1=1, yref="paper",
                line=dict(color=colour, dash=dash, width=width))


def _note(text: str, y: float) -> dict:
    return dict(text=text, x=0.5, y=y, xref="paper", yref="paper", showarrow=False,
                font=dict(size=13, color="#888"))


def _xaxis(yaxis: str) -> str:
    return "x2" if yaxis == "y3" else "x"


def _stop_colour(name: str, index: int) -> str:
    return _STOP_COLOURS.get(name, _OTHER_COLOURS[index % len(_OTHER_COLOURS)])


def _plain(label: str) -> str:
    return label.replace("<sub>", "_").replace("</sub>", "")
