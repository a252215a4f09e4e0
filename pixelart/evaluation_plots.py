"""Plotly figures of an evaluation (no Gradio): the app's Evaluate tab shows them, the CLI saves them.

- ``sweep_figure`` / ``sweeps_figure``: the three metrics against each strategy's parameter (Fig. 2)
- ``centers_figure``: histogram of labeled range centres (Fig. 3)
- ``table_figure``: Table 1 with the leave-one-out columns
- ``breakdown_figure``: per photo, the stopped frame beside the frame at the range centre
- ``photo_curve_figure``: one photo's trajectory curves with its labeled ranges shaded and every
  strategy's stop marked (the seed's Fig. 4; drawn by the app's own trajectory chart)
- ``agreement_figure``: mean pairwise IoU of annotators' ranges
"""

from __future__ import annotations

import html
import os
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pixelart.evaluation.consensus import Agreement, center_histogram
from pixelart.evaluation.results import PhotoStop, ReferenceResult, StrategyResult
from workbench.chart import StopMarker, marker_metric, trajectory_figure
from workbench.drift import standard_curves
from pixelart.stopping import STRATEGIES

METRICS = (
    ("hit_rate", "hit rate"), ("rel_center_error", "rel. centre error"), ("image_norm_error", "image norm error"),
)


def sweep_figure(result: StrategyResult) -> go.Figure:
    """One strategy: hit rate, relative centre error and image norm error against its parameter."""
    s = result.scores
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[label for _, label in METRICS])
    x = [np.nan if p is None else p for p in s.params]
    means = s.means()
    for row, (key, label) in enumerate(METRICS, start=1):
        fig.add_trace(go.Scatter(x=x, y=means[key], mode="lines+markers", name=label, showlegend=False), row=row, col=1)
    if s.params[result.best] is not None:
        fig.add_vline(x=s.params[result.best], line_dash="dash", line_color="crimson",
                      annotation_text=f"best {s.params[result.best]:g}")
    fig.update_xaxes(title_text=s.param_name or "parameter", row=3, col=1)
    fig.update_layout(title=f"{s.label}: metrics against {s.param_name or 'its parameter'}", height=620,
                      margin=dict(t=70, l=60, r=20, b=50))
    return fig


def sweeps_figure(ref: ReferenceResult) -> go.Figure:
    """Fig. 2: every strategy with a swept parameter, one column each, the three metrics as rows."""
    swept = [r for r in ref.strategies if len(r.scores.params) > 1]
    if not swept:
        return _empty("no strategy with a swept parameter")
    fig = make_subplots(rows=3, cols=len(swept), shared_xaxes=False, horizontal_spacing=0.04, vertical_spacing=0.07,
                        column_titles=[_wrap(r.scores.label, 14 if len(swept) > 3 else 28) for r in swept],
                        row_titles=[label for _, label in METRICS])
    for col, r in enumerate(swept, start=1):
        means = r.scores.means()
        for row, (key, _) in enumerate(METRICS, start=1):
            fig.add_trace(go.Scatter(x=r.scores.params, y=means[key], mode="lines", showlegend=False,
                                     name=f"{r.name} {key}"), row=row, col=col)
            fig.add_trace(go.Scatter(x=[r.best_param], y=[means[key][r.best]], mode="markers", showlegend=False,
                                     marker=dict(color="crimson", size=8), name="best"), row=row, col=col)
        fig.update_xaxes(title_text=r.scores.param_name, row=3, col=col)
    fig.update_layout(title=f"Parameter sweeps against {ref.name} ({len(ref.photos)} photos)",
                      height=720, width=max(700, 300 * len(swept)), margin=dict(t=110, l=70, r=40, b=60))
    return fig


def centers_figure(ref: ReferenceResult, *, bin_width: float | None = None) -> go.Figure:
    """Fig. 3: how many labeled ranges have their centre in each step bin."""
    centers = [c["center"] for c in ref.centers()]
    if not centers:
        return _empty("no labeled ranges")
    max_step = max(p.num_steps for p in ref.photos) - 1
    edges, counts = center_histogram(centers, bin_width=bin_width, max_step=max_step)
    mids = (edges[:-1] + edges[1:]) / 2
    hover = [f"{a:g}–{b:g}: {c}" for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]
    fig = go.Figure(go.Bar(x=mids, y=counts, width=np.diff(edges), marker_line_width=1, hovertext=hover))
    fig.update_layout(title=f"Centres of labeled ranges ({ref.name}, {len(centers)} ranges)",
                      xaxis_title="centre step", yaxis_title="ranges", bargap=0.02)
    return fig


def table_figure(ref: ReferenceResult) -> go.Figure:
    """Table 1 with the in-sample best parameter and the leave-one-out scores."""
    rows = ref.table()
    if not rows:
        return _empty("no strategy could be scored")
    cols = ["label", "param", "hit_rate", "rel_center_error", "image_norm_error",
            "loo_hit_rate", "loo_rel_center_error", "loo_image_norm_error", "loo_params"]
    head = ["strategy", "param", "hit rate", "rel. centre err.", "img. norm err.", "LOO hit", "LOO rel. centre",
            "LOO img. norm", "LOO params"]
    values = [[_cell(r[c]) for r in rows] for c in cols]
    fig = go.Figure(go.Table(header=dict(values=head, align="left"), cells=dict(values=values, align="left")))
    fig.update_layout(title=f"Table 1 against {ref.name} ({len(ref.photos)} photos)", height=120 + 32 * len(rows))
    return fig


def breakdown_figure(stops: Sequence[PhotoStop], *, max_photos: int = 12) -> go.Figure:
    """Per photo: the stopped frame x_t̂ beside the frame x_c at the reference range's centre."""
    stops = list(stops)[:max_photos]
    if not stops:
        return _empty("no photos")
    titles = []
    for s in stops:
        titles += [f"{s.photo.name}: stop {s.step} ({'hit' if s.hit else 'miss'})",
                   f"centre {s.center_step} of {s.range[0]}–{s.range[1]}"]
    fig = make_subplots(rows=len(stops), cols=2, subplot_titles=titles, vertical_spacing=0.3 / len(stops))
    for row, s in enumerate(stops, start=1):
        fig.add_trace(go.Image(z=s.stopped_rgb, hoverinfo="skip"), row=row, col=1)
        fig.add_trace(go.Image(z=s.center_rgb, hoverinfo="skip"), row=row, col=2)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=f"{stops[0].strategy}: stopped frame | frame at the range centre",
                      height=260 * len(stops) + 80, width=620, margin=dict(t=80, l=10, r=10, b=10))
    return fig


def photo_curve_figure(ref: ReferenceResult, bundle_id: str, *, selected: int | None = None) -> go.Figure:
    """One photo's norm and similarity curves, its labeled ranges (of this reference) shaded and each
    strategy's stop at its in-sample best parameter marked; ``selected`` draws one step as a solid line."""
    photo = next((p for p in ref.photos if p.bundle_id == bundle_id), None)
    if photo is None:
        return _empty(f"{bundle_id} has no labels in {ref.name}")
    curves = standard_curves(list(photo.series))
    stops = []
    for res in ref.strategies:
        stop = next((s for s in res.per_photo() if s.photo.bundle_id == bundle_id), None)
        if stop is None:  # the strategy could not be scored on this photo
            continue
        param = "" if stop.param is None else f"{res.scores.param_name} = {stop.param:g}: "
        verdict = ("hit" if stop.hit else "miss") + ("" if stop.fired else " (never fired: last step)")
        metric = marker_metric(STRATEGIES[res.name].marker_curve(), curves, photo.series)
        stops.append(StopMarker(res.name, res.scores.label, stop.step, metric, param + verdict))
    return trajectory_figure(photo.series, curves, stops=stops, ranges=ref.reference.ranges[bundle_id], selected=selected,
                             title=f"{photo.name}: labeled ranges ({ref.name}) and where each strategy stops")


def agreement_figure(agree: Agreement) -> go.Figure:
    """Mean pairwise IoU of annotators' ranges (over the photos both labeled)."""
    names = agree.annotators
    m = np.full((len(names), len(names)), np.nan)
    for i in range(len(names)):
        m[i, i] = 1.0
    for (a, b), v in agree.pairwise.items():
        i, j = names.index(a), names.index(b)
        m[i, j] = m[j, i] = v
    fig = go.Figure(go.Heatmap(z=m, x=names, y=names, zmin=0, zmax=1, colorscale="Blues",
                               text=np.round(m, 3), texttemplate="%{text}"))
    fig.update_layout(title=f"Annotator agreement (mean IoU {agree.mean_iou:.3f})")
    return fig


def write_report(
    figures: Sequence[tuple[str, go.Figure]], path: str | os.PathLike, *, title: str = "Evaluation",
    tables: Sequence[tuple[str, str]] = (),
) -> Path:
    """One self-contained HTML page: the (heading, HTML) ``tables`` first, then every figure (plotly.js
    embedded once, works offline)."""
    from workbench.atomic import atomic_path

    parts = [f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"]
    for heading, table in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>{table}")
    for i, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{heading}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return Path(path)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _wrap(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of about ``width`` characters: neighbouring subplot titles
    of a narrow grid stay apart."""
    return "<br>".join(textwrap.wrap(text, width)) or text


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
