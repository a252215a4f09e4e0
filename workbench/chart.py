"""Plotly chart of any trajectory: the curves its run declared against the step, stopping points, a
chosen step, labelled ranges.

Rows come from the curves' ``panel`` (top first) and share the step axis; a curve with ``right`` is
drawn on its row's right axis. For pixel art that is the L2 norm d_t (left) with its increase rate r_t
(right, in percent) on top, and the CLIP / DINOv2 similarity below. r_t = (d_t - d_0) / d_0 is affine in
d_t, so with both axes fitted to their data the two curves coincide. Each stopping strategy's step is a
dashed vertical line across all rows with its name and a diamond on its curve, the selected step a
solid line with dots, and labelled step ranges (the Annotate tab's) shaded bands.

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

from workbench.records import Curve

MAX_POINTS = 1200  # per curve on screen; more adds bytes and render time, not visible detail

_STOP_COLOURS = {
    "fixed_step": "#8c564b",
    "norm_threshold": "#1f77b4",
    "norm_rate": "#9467bd",
    "clip_max": "#d62728",
    "dino_max": "#2ca02c",
}
_OTHER_COLOURS = ("#ff7f0e", "#17becf", "#bcbd22", "#e377c2")
_SELECTED_COLOUR = "#111111"
_RANGE_COLOUR = "rgba(255, 193, 7, 0.25)"
_ROW_GAP = 0.12  # of the plot's height, between rows
_CURVE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
_LABEL_SHIFT_PX = 15  # labels of stops at nearby steps are stacked this far apart
_NEARBY = 0.25  # stops closer than this fraction of the axis get their labels on separate rows
_AXIS_TITLE_PX = 52  # below the plot: the step ticks and the axis title; the legend starts under them
_LEGEND_ROW_PX = 21
_LEGEND_WIDTH_PX = 600  # a narrow chart's width, to count the legend's rows (plotly wraps it to fit)


@dataclass(frozen=True)
class StopMarker:
    """Where one stopping strategy stops; ``metric`` is the curve its marker sits on."""

    name: str  # strategy name, e.g. "norm_rate" (picks the colour)
    label: str  # shown on the chart, e.g. "Norm increase rate"
    step: int
    metric: str = "norm"
    reason: str = ""


def marker_metric(preferred: str, curves: Sequence[Curve], recorded: Iterable[str] | None = None) -> str:
    """The curve a strategy's stop marker sits on: ``preferred`` (the series it reads) where that is
    drawn (and, given ``recorded`` series names, recorded), else the first curve."""
    drawn = [c.name for c in curves]
    if preferred in drawn and (recorded is None or preferred in set(recorded)):
        return preferred
    return drawn[0] if drawn else "norm"  # e.g. per-part series are not drawn; a bundle may lack the rate


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


@dataclass(frozen=True)
class _Axes:
    """Where each curve is drawn: its y axis, that row's x axis, and every axis' layout."""

    yaxis: dict[str, str]  # curve name -> "y", "y2", ...
    xaxis: dict[str, str]  # curve name -> "x", "x2", ...
    bottom_x: str  # the x axis with the step ticks (shapes and labels refer to it)
    layout: dict[str, dict]
    empty_panels: list[tuple[list[Curve], float]]  # curves of each row and the row's middle (paper y)


def _axes(curves: Sequence[Curve], x_range: dict) -> _Axes:
    panels = sorted({c.panel for c in curves}) or [0]
    n = len(panels)
    height = (1.0 - _ROW_GAP * (n - 1)) / n
    yaxis, xaxis, layout, rows = {}, {}, {}, []
    next_y = 1
    bottom_x = "x" if n == 1 else f"x{n}"
    for row, panel in enumerate(panels):
        top = 1.0 - row * (height + _ROW_GAP)
        domain = [round(max(0.0, top - height), 6), round(top, 6)]
        x_name = "x" if row == 0 else f"x{row + 1}"
        members = [c for c in curves if c.panel == panel]
        left = f"y{'' if next_y == 1 else next_y}"
        next_y += 1
        left_curves = [c for c in members if not c.right]
        right_curves = [c for c in members if c.right]
        left_title = next((c.axis_title for c in left_curves if c.axis_title), left_curves[0].label if left_curves else "")
        layout[_layout_key(left)] = dict(domain=domain, anchor=x_name, title=dict(text=left_title),
                                         **_scale(left_curves))
        for c in left_curves:
            yaxis[c.name], xaxis[c.name] = left, x_name
        if right_curves:
            right = f"y{next_y}"
            next_y += 1
            title = next((c.axis_title for c in right_curves if c.axis_title), right_curves[0].label)
            layout[_layout_key(right)] = dict(overlaying=left, side="right", anchor=x_name, showgrid=False,
                                              title=dict(text=title), **_scale(right_curves))
            for c in right_curves:
                yaxis[c.name], xaxis[c.name] = right, x_name
        if x_name == bottom_x:
            layout[_layout_key(x_name)] = dict(domain=[0, 1], anchor=left, title=dict(text="step"), **x_range)
        else:
            layout[_layout_key(x_name)] = dict(domain=[0, 1], anchor=left, matches=bottom_x, showticklabels=False)
        rows.append((members, (domain[0] + domain[1]) / 2))
    return _Axes(yaxis, xaxis, bottom_x, layout, rows)


def _layout_key(axis: str) -> str:
    return axis[0] + "axis" + axis[1:]


def _scale(curves: Sequence[Curve]) -> dict:
    out: dict = {}
    if any(c.log for c in curves):
        out["type"] = "log"
    if curves and all(c.fmt.endswith("%}") for c in curves):
        # trimmed percent with all the digits a nice tick needs: early in a run the rate spans a few
        # tenths of a percent, which ".0%" wrote as "0% 0% 0% 0%"
        out["tickformat"] = "~%"
    return out


class TrajectoryChart:
    """The decimated curves and fixed decorations of one trajectory state, drawable at any selected step.

    Build it once per state of the series; ``figure(selected)`` only adds the selection, so a slider's
    chart update costs a few milliseconds even for 10,000-step runs.
    """

    def __init__(
        self,
        series: Mapping[str, np.ndarray],
        curves: Sequence[Curve],
        *,
        stops: Sequence[StopMarker] = (),
        ranges: Sequence[tuple[int, int]] = (),
        x_max: int | None = None,
        max_points: int = MAX_POINTS,
        title: str | None = None,
        revision: str = "trajectory",
    ) -> None:
        self.curves = {c.name: c for c in curves}
        self.colours = {c.name: c.colour or _CURVE_COLOURS[i % len(_CURVE_COLOURS)] for i, c in enumerate(curves)}
        # Copies: a running trajectory keeps writing into the arrays it hands out.
        self.series = {k: np.array(series[k], dtype=np.float64) for k in self.curves if k in series}
        self.length = max((len(v) for v in self.series.values()), default=0)
        x_range = {"range": [0, max(x_max, 1)]} if x_max is not None else {}
        self.axes = _axes(list(curves), x_range)
        self.stops = [m for m in stops if self._value_at(m.metric, m.step) is not None]
        self.ranges = [(int(min(s, e)), int(max(s, e))) for s, e in ranges]
        keep = [m.step for m in self.stops] + [i for r in self.ranges for i in r]
        self._traces = [self._curve(name, values, max_points, keep) for name, values in self.series.items()]
        self._traces += [self._stop_trace(i, m) for i, m in enumerate(self.stops)]
        shapes = [self._range_shape(s, e) for s, e in self.ranges]
        shapes += [self._vline(m.step, _stop_colour(m.name, i), "dash", 1.5) for i, m in enumerate(self.stops)]
        labels, levels = self._stop_labels(x_max)
        self._layout = self._base_layout(shapes, labels, levels, title, revision)

    def figure(self, selected: int | None = None) -> go.Figure:
        """The chart, with ``selected`` (when it is a recorded step) marked by a solid line and dots."""
        layout, traces = dict(self._layout), list(self._traces)
        if selected is not None and 0 <= selected < self.length:
            layout["shapes"] = [*layout["shapes"], self._vline(selected, _SELECTED_COLOUR, "solid", 2.0)]
            layout["annotations"] = [*layout["annotations"], dict(
                x=selected, xref=self.axes.bottom_x, y=0, yref="paper", yanchor="bottom", yshift=2,
                text=f"step {selected}", showarrow=False, font=dict(size=11, color=_SELECTED_COLOUR),
                bgcolor="rgba(255,255,255,0.85)",
            )]
            traces += self._selected_traces(selected)
        return go.Figure(data=traces, layout=layout, _validate=False)

    # -- traces -----------------------------------------------------------------------------------
    def _value_at(self, metric: str, step: int) -> float | None:
        values = self.series.get(metric)
        if values is None or not 0 <= step < len(values) or not np.isfinite(values[step]):
            return None
        return float(values[step])

    def _curve(self, name: str, values: np.ndarray, max_points: int, keep: list[int]) -> dict:
        curve = self.curves[name]
        idx = decimate_indices(values, max_points, keep)
        return dict(
            type="scatter", mode="lines", name=curve.label, x=idx, y=values[idx], xaxis=self.axes.xaxis[name],
            yaxis=self.axes.yaxis[name], line=dict(color=self.colours[name], dash=curve.dash, width=1.6),
            connectgaps=False, meta=name,
            hovertemplate="step %{x}<br>" + _plain(curve.label) + " %{y:.4g}<extra></extra>",
        )

    def _stop_trace(self, i: int, marker: StopMarker) -> dict:
        return dict(
            type="scatter", mode="markers", name=f"{marker.label} → step {marker.step}",
            x=[marker.step], y=[self._value_at(marker.metric, marker.step)], xaxis=self.axes.xaxis[marker.metric],
            yaxis=self.axes.yaxis[marker.metric],
            marker=dict(symbol="diamond", size=11, color=_stop_colour(marker.name, i),
                        line=dict(color="white", width=1)),
            meta=f"stop:{marker.name}",  # no legend group: a horizontal legend stacks a group in one column
            hovertemplate=f"{marker.label}: step {marker.step}<br>{marker.reason}<extra></extra>",
        )

    def _selected_traces(self, step: int) -> list[dict]:
        traces = []
        for name in self.series:
            value = self._value_at(name, step)
            if value is None:
                continue
            label = self.curves[name].label
            traces.append(dict(
                type="scatter", mode="markers", x=[step], y=[value], xaxis=self.axes.xaxis[name],
                yaxis=self.axes.yaxis[name], name=f"step {step}", legendgroup="selected", showlegend=not traces,
                meta="selected", marker=dict(size=8, color=self.colours[name], line=dict(color=_SELECTED_COLOUR, width=1.5)),
                hovertemplate=f"step {step}<br>{_plain(label)} %{{y:.4g}}<extra></extra>",
            ))
        return traces

    # -- decorations ------------------------------------------------------------------------------
    def _vline(self, step: int, colour: str, dash: str, width: float) -> dict:
        return dict(type="line", x0=step, x1=step, xref=self.axes.bottom_x, y0=0, y1=1, yref="paper",
                    line=dict(color=colour, dash=dash, width=width))

    def _range_shape(self, start: int, end: int) -> dict:
        return dict(type="rect", x0=start, x1=end, xref=self.axes.bottom_x, y0=0, y1=1, yref="paper",
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
                x=m.step, xref=self.axes.bottom_x, y=1, yref="paper", yanchor="bottom",
                yshift=2 + _LABEL_SHIFT_PX * level, text=m.label, showarrow=False,
                font=dict(size=10, color=_stop_colour(m.name, i)), bgcolor="rgba(255,255,255,0.75)",
            ))
        return labels, levels

    def _base_layout(
        self, shapes: list[dict], annotations: list[dict], levels: int, title: str | None, revision: str,
    ) -> dict:
        if not self.length:
            annotations.append(_note("no steps recorded yet", 0.5))
        else:
            for members, middle in self.axes.empty_panels:
                recorded = [c for c in members if c.name in self.series and np.isfinite(self.series[c.name]).any()]
                if members and not recorded:
                    names = " / ".join(_plain(c.caption_label or c.label) for c in members)
                    annotations.append(_note(f"no {names} values recorded (yet)", middle))
        # the bottom margin holds the step axis and the legend's rows; the chart grows by them, not the plot
        names = [c.label for c in self.curves.values()] + [t["name"] for t in self._traces[len(self.series):]]
        bottom = _AXIS_TITLE_PX + 10 + _LEGEND_ROW_PX * _legend_rows([*names, "step 00000"])
        top = 20 + _LABEL_SHIFT_PX * levels + (28 if title else 0)
        height = max(320, 220 * len(self.axes.empty_panels)) + bottom - 40
        layout = dict(
            height=height,
            margin=dict(l=60, r=60, t=top, b=bottom),
            hovermode="closest",
            uirevision=revision,  # keeps the user's zoom while the chart is redrawn
            # below the step axis and its title, in pixels of the plot's known height (paper units)
            legend=dict(orientation="h", x=0, y=-_AXIS_TITLE_PX / (height - top - bottom), yanchor="top",
                        font=dict(size=10)),
            **self.axes.layout,
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
    curves: Sequence[Curve],
    *,
    stops: Sequence[StopMarker] = (),
    selected: int | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    x_max: int | None = None,
    max_points: int = MAX_POINTS,
    title: str | None = None,
) -> go.Figure:
    """The trajectory chart in one call (keep a ``TrajectoryChart`` to redraw it cheaply at other steps)."""
    chart = TrajectoryChart(series, curves, stops=stops, ranges=ranges, x_max=x_max, max_points=max_points,
                            title=title)
    return chart.figure(selected)


def empty_figure(message: str = "run or load a trajectory to see its curves") -> go.Figure:
    """A blank chart with a hint, shown before any trajectory exists."""
    figure = TrajectoryChart({}, ()).figure()
    figure.layout.annotations = [_note(message, 0.5)]
    figure.update_xaxes(visible=False).update_yaxes(visible=False)
    return figure


@functools.cache
def _template() -> dict:
    # Resolving a named template costs ~15 ms per figure; resolve it once per process. Only its layout
    # and scatter defaults: the full template's defaults for 40-odd trace types double the browser's
    # time to draw the chart (about 100 ms more per live update; bench/bench_live_updates.py).
    full = pio.templates["plotly_white"].to_plotly_json()
    return {"layout": full["layout"], "data": {"scatter": full["data"].get("scatter", [])}}


def _note(text: str, y: float) -> dict:
    return dict(text=text, x=0.5, y=y, xref="paper", yref="paper", showarrow=False,
                font=dict(size=13, color="#888"))


def _stop_colour(name: str, index: int) -> str:
    return _STOP_COLOURS.get(name, _OTHER_COLOURS[index % len(_OTHER_COLOURS)])


def _legend_rows(names: Sequence[str]) -> int:
    """How many rows a horizontal legend of these entries takes at about ``_LEGEND_WIDTH_PX``."""
    rows, used = 1, 0
    for name in names:
        width = 40 + 6 * len(_plain(name))  # symbol and gap, then about 6 px a character at size 10
        if used and used + width > _LEGEND_WIDTH_PX:
            rows, used = rows + 1, 0
        used += width
    return rows


def _plain(label: str) -> str:
    return label.replace("<sub>", "_").replace("</sub>", "")
