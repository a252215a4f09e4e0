"""The trajectory chart: curves on their axes, stop markers at exact steps, selection, ranges, speed."""

import json
import time

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench.drift import NORM_CURVES, SEMANTIC_CURVES
from workbench.records import Curve
from workbench.chart import StopMarker, TrajectoryChart, decimate_indices, empty_figure, trajectory_figure


CURVES = NORM_CURVES + SEMANTIC_CURVES
NAMES = [c.name for c in CURVES]


def _series(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    norm = 50 + 10 * (1 - np.exp(-t / max(1, n / 3))) + rng.normal(0, 0.1, n)
    return {
        "norm": norm,
        "rate": (norm - norm[0]) / norm[0],
        "clip": 0.9 - 1e-3 * ((t - n / 4) / max(1, n / 100)) ** 2,
        "dino": 0.8 - 1e-3 * ((t - n / 8) / max(1, n / 100)) ** 2,
        "loss_sds": rng.random(n),  # not a chart curve: ignored
    }


def _validated(figure: go.Figure) -> go.Figure:
    """The figure, after checking that its JSON loads into a validating Figure (the app builds figures
    without validation for speed, so any invalid property name or value would only show here)."""
    go.Figure(json.loads(figure.to_json()))
    return figure


def _trace(fig: go.Figure, meta: str) -> go.Scatter:
    return next(t for t in fig.data if t.meta == meta)


def test_curves_sit_on_their_axes_and_ignore_other_series():
    fig = _validated(trajectory_figure(_series(50), CURVES))
    assert [t.meta for t in fig.data] == ["norm", "rate", "clip", "dino"]
    axes = {t.meta: (t.xaxis, t.yaxis) for t in fig.data}
    assert axes == {"norm": ("x", "y"), "rate": ("x", "y2"), "clip": ("x2", "y3"), "dino": ("x2", "y3")}
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.yaxis2.side == "right"
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis3.domain[1]  # norm above similarity
    assert list(_trace(fig, "norm").x) == list(range(50))
    assert np.allclose(_trace(fig, "clip").y, _series(50)["clip"])
    assert NAMES == ["norm", "rate", "clip", "dino"]


def test_stop_markers_are_lines_labels_and_points_at_the_exact_step():
    s = _series(40)
    stops = [StopMarker("norm_rate", "Norm increase rate", 12, "rate", "r_t > 0.2"),
             StopMarker("clip_max", "CLIP similarity maximum", 10, "clip")]
    fig = _validated(trajectory_figure(s, CURVES, stops=stops))
    lines = [sh for sh in fig.layout.shapes if sh.type == "line"]
    assert sorted(sh.x0 for sh in lines) == [10, 12] and all(sh.yref == "paper" for sh in lines)
    assert {a.text for a in fig.layout.annotations} >= {"Norm increase rate", "CLIP similarity maximum"}
    rate = _trace(fig, "stop:norm_rate")
    assert list(rate.x) == [12] and rate.y[0] == pytest.approx(s["rate"][12]) and rate.yaxis == "y2"
    assert "step 12" in rate.name and "r_t > 0.2" in rate.hovertemplate
    clip = _trace(fig, "stop:clip_max")
    assert list(clip.x) == [10] and clip.y[0] == pytest.approx(s["clip"][10])
    # labels of nearby stops are stacked, not drawn on top of each other
    labels = ("Norm increase rate", "CLIP similarity maximum")
    shifts = sorted(a.yshift for a in fig.layout.annotations if a.text in labels)
    assert shifts[0] != shifts[1]
    # three stops near each other take three rows; a far one reuses the first row
    near = [StopMarker(f"s{i}", f"S{i}", step) for i, step in enumerate((10, 11, 13, 39))]
    rows = {a.text: a.yshift for a in trajectory_figure(s, CURVES, stops=near).layout.annotations}
    assert len({rows["S0"], rows["S1"], rows["S2"]}) == 3 and rows["S3"] == rows["S0"]


def test_a_marker_on_an_unrecorded_value_is_left_out():
    s = _series(20)
    s["dino"][:] = np.nan
    fig = trajectory_figure(s, CURVES, stops=[StopMarker("dino_max", "DINOv2", 5, "dino"), StopMarker("x", "X", 99)])
    assert not [t for t in fig.data if str(t.meta).startswith("stop:")]
    assert not [sh for sh in fig.layout.shapes if sh.type == "line"]


def test_selected_step_and_ranges():
    s = _series(30)
    chart = TrajectoryChart(s, CURVES, ranges=[(20, 5), (25, 28)])
    fig = _validated(chart.figure(7))
    rects = [sh for sh in fig.layout.shapes if sh.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(5, 20), (25, 28)]
    selected = [t for t in fig.data if t.meta == "selected"]
    assert len(selected) == 4 and all(list(t.x) == [7] for t in selected)
    assert sorted(float(t.y[0]) for t in selected) == pytest.approx(sorted(float(s[k][7]) for k in NAMES))
    solid = [sh for sh in fig.layout.shapes if sh.type == "line" and sh.line.dash == "solid"]
    assert [sh.x0 for sh in solid] == [7]
    assert any(a.text == "step 7" for a in fig.layout.annotations)
    # another step redraws only the selection; out-of-range steps draw none
    assert [sh.x0 for sh in chart.figure(8).layout.shapes if sh.type == "line"] == [8]
    assert not [t for t in chart.figure(99).data if t.meta == "selected"]


def test_decimation_keeps_extremes_markers_and_ends():
    n = 10_001
    values = np.zeros(n)
    values[4321], values[777] = 5.0, -5.0  # spikes that plain striding would miss
    idx = decimate_indices(values, 1000, keep=[1234, 9999])
    assert len(idx) <= 1000 + 4 and np.all(np.diff(idx) > 0)
    assert {0, n - 1, 4321, 777, 1234, 9999} <= set(idx.tolist())
    assert list(decimate_indices(values[:50], 1000)) == list(range(50))
    with_nan = np.full(n, np.nan)
    with_nan[:100] = 1.0
    assert decimate_indices(with_nan, 1000).max() == n - 1


def test_ten_thousand_steps_are_decimated_but_markers_stay_exact_and_fast():
    n = 10_001
    s = _series(n)
    stops = [StopMarker("norm_threshold", "Norm threshold", 4567), StopMarker("dino_max", "DINOv2", 1251, "dino")]
    t0 = time.perf_counter()
    chart = TrajectoryChart(s, CURVES, stops=stops, ranges=[(3000, 3500)])
    fig = chart.figure(9000)
    payload = fig.to_json()
    build_ms = (time.perf_counter() - t0) * 1e3
    fig = _validated(fig)
    norm = _trace(fig, "norm")
    assert len(norm.x) < 1500 and {4567, 1251, 3000, 3500} <= set(np.asarray(norm.x).tolist())
    assert _trace(fig, "stop:norm_threshold").x[0] == 4567
    assert len(payload) < 200_000  # bytes sent to the browser per update
    # redrawing at another step reuses the decimated curves
    t0 = time.perf_counter()
    for step in range(0, n, 1000):
        chart.figure(step).to_json()
    per_step_ms = (time.perf_counter() - t0) * 1e3 / 11
    assert build_ms < 1000 and per_step_ms < 50, (build_ms, per_step_ms)


def test_empty_and_partial_series():
    fig = _validated(empty_figure("nothing yet"))
    assert not fig.data and fig.layout.annotations[0].text == "nothing yet"
    none = _validated(trajectory_figure({}, CURVES))
    assert any("no steps" in a.text for a in none.layout.annotations)
    s = _series(10)
    s["clip"][:] = np.nan
    s["dino"][:] = np.nan
    fig = _validated(trajectory_figure(s, CURVES, x_max=100, title="run"))
    assert any("no CLIP / DINOv2" in a.text for a in fig.layout.annotations)
    assert list(fig.layout.xaxis2.range) == [0, 100] and fig.layout.title.text == "run"


def test_any_back_end_declares_its_own_rows_axes_and_scales():
    """A style-transfer-like run: losses on a log axis in one row, the drift in another with its rate on
    the right; the same chart code, no per-back-end branches."""
    curves = (Curve("loss", "total loss", panel=0, axis_title="loss", log=True),
              Curve("style", "style loss", panel=0, log=True),
              *(c.__class__(**{**c.to_dict(), "panel": 1}) for c in NORM_CURVES))
    t = np.arange(30.0)
    series = {"loss": 1e4 / (t + 1), "style": 1e3 / (t + 1), "norm": 5 + t, "rate": t / 5, "other": t}
    fig = _validated(trajectory_figure(series, curves, selected=4, stops=[StopMarker("norm_rate", "Rate", 9, "rate")]))
    axes = {t.meta: (t.xaxis, t.yaxis) for t in fig.data if t.meta in series}
    assert axes == {"loss": ("x", "y"), "style": ("x", "y"), "norm": ("x2", "y2"), "rate": ("x2", "y3")}
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis3.tickformat == "~%"
    assert fig.layout.xaxis2.title.text == "step" and fig.layout.xaxis.matches == "x2"
    assert _trace(fig, "stop:norm_rate").yaxis == "y3"
    one = _validated(trajectory_figure({"loss": series["loss"]}, curves[:1]))
    assert one.layout.yaxis.domain == (0.0, 1.0) and one.layout.xaxis.title.text == "step"
