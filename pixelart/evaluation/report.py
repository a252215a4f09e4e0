"""Plain data out: Table 1 as text, the CSVs, the histogram of range centres (Fig. 3), and every
output of an evaluation in a folder (CSVs, one HTML report with every figure, per-photo frame pairs)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pixelart.evaluation.sweeps import format_param

if TYPE_CHECKING:
    from pixelart.evaluation.results import Evaluation, ReferenceResult


def format_table(result: ReferenceResult) -> str:
    """Table 1 as fixed-width text, with the leave-one-out columns beside the in-sample ones."""
    head = (f"{'strategy':<16}{'param':>10}{'hit':>7}{'rel.ctr':>9}{'img.norm':>10}"
            f"   {'LOO hit':>7}{'rel.ctr':>9}{'img.norm':>10}  LOO params")
    lines = [f"reference: {result.name} ({len(result.photos)} photos)", head, "-" * len(head)]
    for r in result.table():
        mark = "" if r["loo_honest"] else " (nothing chosen)"
        lines.append(
            f"{r['strategy']:<16}{format_param(r['param']):>10}{r['hit_rate']:>7.3f}{r['rel_center_error']:>9.3f}"
            f"{r['image_norm_error']:>10.3f}   {r['loo_hit_rate']:>7.3f}{r['loo_rel_center_error']:>9.3f}"
            f"{r['loo_image_norm_error']:>10.3f}  {r['loo_params']}{mark}"
        )
    for name, why in result.skipped.items():
        lines.append(f"{name:<16}  not scored: {why}")
    return "\n".join(lines)


TABLE_COLUMNS = (("strategy", "strategy"), ("param", "param"), ("hit_rate", "hit rate"),
                 ("rel_center_error", "rel. centre err."), ("image_norm_error", "img. norm err."),
                 ("loo_hit_rate", "LOO hit"), ("loo_rel_center_error", "LOO rel. centre"),
                 ("loo_image_norm_error", "LOO img. norm"), ("loo_params", "LOO params"))


def table_html(result: ReferenceResult) -> str:
    """Table 1 as a plain HTML table: every row shown, however many (a figure has a fixed height)."""
    def cell(key: str, value: Any) -> str:
        if key == "param":
            return format_param(value)
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in TABLE_COLUMNS)
    rows = []
    for r in result.table():
        note = "" if r["loo_honest"] else " (nothing chosen)"
        cells = [cell(k, r[k]) + (note if k == "loo_params" else "") for k, _ in TABLE_COLUMNS]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    for name, why in result.skipped.items():
        rows.append(f"<tr><td>{html.escape(name)}</td><td colspan='{len(TABLE_COLUMNS) - 1}'>not scored: "
                    f"{html.escape(why)}</td></tr>")
    grids = [f"{res.name}: {len(res.scores.params)} values from {format_param(res.scores.params[0])} to "
             f"{format_param(res.scores.params[-1])}" for res in result.strategies if len(res.scores.params) > 1]
    swept = f"<p>Sweep grids: {html.escape('; '.join(grids))}</p>" if grids else ""
    return (f"<table border='1' cellpadding='4' style='border-collapse:collapse'><tr>{head}</tr>"
            + "".join(rows) + "</table>" + swept)


def write_outputs(result: Evaluation, out: Path, *, photos: bool = True) -> list[Path]:
    """CSVs, one HTML report with every figure, and per-photo frame pairs."""
    # plotly is heavy and evaluation_plots imports this package: load both only when writing a report
    from pixelart import evaluation_plots as plots
    from workbench.export import safe_stem, save_png, upscale_factor

    out.mkdir(parents=True, exist_ok=True)
    written = result.write_csvs(out)
    figures = []
    slugs: dict[str, str] = {}  # reference -> file-name part, distinct ("あき" and "ゆう" both sanitise to nothing)
    for ref in result.references:
        slug = base = safe_stem(ref.name, "reference")  # "consensus (majority)" -> consensus_majority
        n = 1
        while slug.casefold() in {v.casefold() for v in slugs.values()}:
            n += 1
            slug = f"{base}_{n}"
        slugs[ref.name] = slug
    for ref in result.references:
        slug = slugs[ref.name]
        figures += [(f"fig2_sweeps_{slug}", plots.sweeps_figure(ref)), (f"fig3_centers_{slug}", plots.centers_figure(ref))]
        for res in ref.strategies:
            if len(res.scores.params) > 1:
                figures.append((f"sweep_{slug}_{res.name}", plots.sweep_figure(res)))
        for photo in ref.photos:  # the seed's Fig. 4 for every labeled photo
            figures.append((f"fig4_curves_{slug}_{safe_stem(Path(photo.name).stem, 'bundle')}",
                            plots.photo_curve_figure(ref, photo.bundle_id)))
    if result.agreement is not None:
        figures.append(("agreement", plots.agreement_figure(result.agreement)))
    # every reference's Table 1 (each annotator's, then the consensus) together at the top
    tables = [(f"Table 1 against {ref.name} ({len(ref.photos)} photos)", table_html(ref)) for ref in result.references]
    written.append(plots.write_report(figures, out / "report.html", title="Stopping strategies against labeled ranges",
                                      tables=tables))
    if photos:
        for ref in result.references:
            for res in ref.strategies:
                for stop in res.per_photo():
                    pair = _side_by_side(stop.stopped_rgb, stop.center_rgb)
                    folder = out / "photos" / slugs[ref.name] / Path(stop.photo.name).stem
                    written.append(save_png(pair, folder / f"{res.name}.png", upscale_factor(pair.shape[:2], 256)))
    return written


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 1) -> np.ndarray:
    """x_t̂ | x_c with a white gap column."""
    white = np.full((left.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([left, white, right], axis=1)
