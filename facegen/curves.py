"""The loss / FID plot next to the checkpoints: ``RUN_DIR/curves.csv`` and ``RUN_DIR/curves.html``.

The CSV holds one row per logged iteration (every ``train.log_every`` iterations, every FID
evaluation, and the last): ``iteration``, every curve of the run (``facegen.run.run_curves``: the
losses averaged over members, each member's losses, FID, learning rate), NaN where a value was not
computed. It is also the run's loss history: a resumed run reads it back up to its checkpoint's
iteration. The HTML is the app's chart (``workbench.chart``: the same panels, colours and log axes)
against the iteration, with plotly.js inline so it opens offline. Both are written atomically.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.atomic import atomic_path
from workbench.export import write_csv
from workbench.records import Curve

CSV_NAME = "curves.csv"
HTML_NAME = "curves.html"
Row = dict[str, float]


def read_rows(run_dir: str | Path, upto: int) -> tuple[list[Row], str | None]:
    """The logged rows of ``run_dir/curves.csv`` up to iteration ``upto`` (later ones belong to training
    after the checkpoint being resumed), and a note when the file is missing or unreadable."""
    path = Path(run_dir) / CSV_NAME
    if not path.is_file():
        return [], f"{CSV_NAME} not found in {run_dir}; the loss curves start at iteration {upto}"
    rows: list[Row] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for line in csv.DictReader(fh):
                row = {k: float(v) if v not in ("", None) else math.nan for k, v in line.items() if k}
                if row.get("iteration", math.inf) <= upto:
                    rows.append(row)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        return [], f"{CSV_NAME} is unreadable ({type(exc).__name__}); the loss curves start at iteration {upto}"
    return rows, None


def curves_figure(rows: Sequence[Row], curves: Sequence[Curve], title: str = ""):
    """The app's trajectory chart of ``rows`` with the iteration on the x axis."""
    from workbench.chart import TrajectoryChart

    iterations = np.array([r["iteration"] for r in rows], dtype=np.float64)
    series = {c.name: np.array([r.get(c.name, math.nan) for r in rows], dtype=np.float64) for c in curves}
    figure = TrajectoryChart(series, curves, title=title or None, revision="curves").figure()
    for trace in figure.data:
        idx = np.asarray(trace.x, dtype=np.int64)
        x, y = iterations[idx], np.asarray(trace.y, dtype=np.float64)
        if trace.meta == "fid":  # evaluated now and then: draw its points joined, not NaN-separated dots
            keep = np.isfinite(y)
            x, y = x[keep], y[keep]
            trace.mode = "lines+markers"
        trace.x, trace.y = x, y
        trace.hovertemplate = trace.hovertemplate.replace("step %{x}", "iteration %{x}")
    for axis in figure.layout:
        if axis.startswith("xaxis") and figure.layout[axis].title.text == "step":
            figure.layout[axis].title.text = "iteration"
    return figure


def write_curves(run_dir: str | Path, rows: Sequence[Row], curves: Sequence[Curve], title: str = ""
                 ) -> tuple[Path, Path]:
    """Write ``curves.csv`` and a self-contained ``curves.html`` into ``run_dir`` (atomically)."""
    run_dir = Path(run_dir)
    columns = ["iteration", *(c.name for c in curves)]
    table = [{k: (int(r["iteration"]) if k == "iteration" else r.get(k, math.nan)) for k in columns} for r in rows]
    csv_path = write_csv(run_dir / CSV_NAME, table) if table else _header_only(run_dir / CSV_NAME, columns)
    html = curves_figure(rows, curves, title).to_html(full_html=True, include_plotlyjs=True)
    html_path = run_dir / HTML_NAME
    with atomic_path(html_path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return csv_path, html_path


def _header_only(path: Path, columns: list[str]) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(columns)
    return path
