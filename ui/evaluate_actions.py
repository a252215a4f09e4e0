"""What the Evaluate tab's events do: score stopping strategies against labeled good ranges with
``pixelart.evaluation.evaluate`` and show Table 1, the parameter sweeps (Fig. 2), the histogram of
range centres (Fig. 3), annotator agreement and a per-photo breakdown (stopped frame beside the frame
at the range centre, and the photo's curves with its ranges shaded and every strategy's stop).

Handlers answer with dicts keyed by the tab's components (``EvaluateView``); what a dict leaves out
stays as it is. The API's outputs, in the order the tab wires them:
- ``run``: (message, notes, reference, downloads, agreement, *REFERENCE)
- ``choose_reference``: (message, *REFERENCE)
- ``breakdown``: (*BREAKDOWN, message)
with REFERENCE = (table, sweeps, centres, strategy, photo, *BREAKDOWN) and
BREAKDOWN = (stopped frame, centre frame, caption, curves).
"""

from __future__ import annotations

import math
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import gradio as gr
import pandas as pd

from pixelart import evaluation_plots as plots
from workbench.errors import ConfigError
from pixelart.evaluation import Evaluation, PhotoStop, ReferenceResult, evaluate, open_photos, write_outputs
from pixelart.labels import read_labels
from pixelart.stopping import STRATEGIES, parse_strategy_spec
from ui.bundle_set import labels_path, open_set, server_path
from ui.common import SessionActions, crisp
from ui.feedback import fail, warn
from ui.session import EvaluationView, Session, SessionStore
from ui.settings import whole

FRAME_SIDE = 256  # the breakdown's frames are shown upscaled (nearest neighbour) to about this size
# Table 1 as the tab shows it: (row key, column header); the CSV download has every column at full precision
TABLE_COLUMNS = (
    ("strategy", "strategy"), ("label", "name"), ("param_name", "parameter"), ("param", "value"),
    ("chosen", "value chosen"), ("hit_rate", "hit rate"), ("rel_center_error", "rel. centre error"),
    ("image_norm_error", "image norm error"), ("loo_hit_rate", "LOO hit rate"),
    ("loo_rel_center_error", "LOO rel. centre error"), ("loo_image_norm_error", "LOO image norm error"),
    ("loo_params", "LOO values chosen"), ("n_photos", "photos"),
)
# pixels per column of TABLE_COLUMNS: wider than the tab, so the table scrolls sideways
# instead of squeezing the last headers to a letter or two a line
TABLE_WIDTHS = (130, 200, 90, 80, 110, 70, 90, 90, 80, 100, 100, 220, 70)
DECIMALS = 4
NO_RESULT = "run an evaluation first"


@dataclass
class EvaluateView:
    """The Evaluate tab's components that its handlers fill."""

    folder: gr.Textbox
    labels: gr.Textbox
    message: gr.Markdown
    notes: gr.Markdown
    reference: gr.Dropdown
    files: gr.File
    agreement: gr.Plot
    table: gr.Dataframe
    sweeps: gr.Plot
    centers: gr.Plot
    strategy: gr.Dropdown
    photo: gr.Dropdown
    stopped: gr.Image
    center: gr.Image
    caption: gr.Markdown
    curve: gr.Plot

    @property
    def breakdown(self) -> list[gr.components.Component]:
        return [self.stopped, self.center, self.caption, self.curve]

    @property
    def per_reference(self) -> list[gr.components.Component]:
        return [self.table, self.sweeps, self.centers, self.strategy, self.photo, *self.breakdown]


class EvaluateActions(SessionActions):
    """The event handlers of one Evaluate tab, bound to the app's session store and its components."""

    def __init__(self, sessions: SessionStore, ui: EvaluateView, *, server_folders: bool = False) -> None:
        super().__init__(sessions, server_folders=server_folders)
        self.ui = ui

    def use_annotation(self, request: gr.Request) -> dict:
        """The Annotate tab's bundle folder and labels file, as this tab's inputs."""
        annotation = self.session(request).annotation
        if annotation is None:
            return {self.ui.message: warn("the Annotate tab has no bundle set open")}
        return {self.ui.folder: str(annotation.bundles.folder), self.ui.labels: str(annotation.store.path),
                self.ui.message: f"using the Annotate tab's {len(annotation.bundles)} bundle(s) and its labels file"}

    def run(
        self, folder: str, labels: str, labels_file: str | None, seed: list[str] | None, new: list[str] | None,
        params: str, annotators: str, consensus: str, points: float, request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> dict:
        """Open the bundles and labels, score the chosen strategies, write the downloads, show it all."""
        session, ui = self.session(request), self.ui
        try:
            progress(0.0, desc="opening the bundles")
            own = own_paths(session)
            bundles = open_set(server_path(folder, self.server_folders, own, "bundle folder"))
            if not bundles.trajectories:
                raise ConfigError(f"no readable bundle in {bundles.folder}: " + "; ".join(bundles.skipped))
            source = Path(labels_file) if labels_file else labels_path(bundles.folder, labels, self.server_folders, own)
            wanted = strategy_specs([*(seed or []), *(new or [])], params)
            names = [a.strip() for a in str(annotators or "").split(",") if a.strip()] or None
            points = whole(points, "sweep points")  # at least 2: checked by evaluate
            progress(0.1, desc="reading the labels")
            label_list = read_labels(source)
            photos = open_photos(bundles.trajectories)  # the trajectories the scan opened, not opened again
            progress(0.2, desc=f"scoring {len(wanted)} strategies on {len(photos)} bundles")
            result = evaluate(photos, label_list, wanted, points=points, annotators=names, consensus=consensus)
            progress(0.7, desc="writing the CSVs and the report")
            out = session.subfolder("evaluation") / uuid.uuid4().hex[:8]
            files = downloads(result, out)
        except Exception as exc:
            return {ui.message: fail(exc, "evaluating")}
        old, session.evaluation = session.evaluation, EvaluationView(
            result, default_reference(result), out, files, bundles.skipped)
        if old is not None:  # only the latest evaluation's files are offered
            shutil.rmtree(old.folder, ignore_errors=True)
        view = session.evaluation
        progress(0.9, desc="drawing the figures")
        refs = [r.name for r in result.references]
        scored = {r.name for ref in result.references for r in ref.strategies}
        done = f"evaluated {len(scored)} of {len(wanted)} strategies against {', '.join(refs)}"
        if len(scored) < len(wanted):
            done += " (the notes say why the others were not)"
        agreement = (gr.update(value=plots.agreement_figure(result.agreement), visible=True)
                     if result.agreement is not None else gr.update(value=None, visible=False))
        return {ui.message: done, ui.notes: notes_markdown(view), ui.files: [str(p) for p in files],
                ui.reference: gr.update(choices=refs, value=view.reference, visible=len(refs) > 1),
                ui.agreement: agreement, **self._reference_view(result.reference(view.reference))}

    def choose_reference(self, reference: str, request: gr.Request) -> dict:
        """Show the results against another reference (an annotator or the consensus)."""
        view = self.session(request).evaluation
        if view is None:
            return {self.ui.message: warn(NO_RESULT)}
        try:
            ref = view.result.reference(reference)
        except ConfigError as exc:
            return {self.ui.message: fail(exc, "choosing the reference")}
        view.reference = reference
        return {self.ui.message: "", **self._reference_view(ref)}

    def breakdown(self, strategy: str, photo: str, request: gr.Request) -> dict:
        """One strategy on one photo: stopped frame | frame at the range centre, and the photo's curves."""
        view = self.session(request).evaluation
        if view is None:
            return {self.ui.message: warn(NO_RESULT)}
        try:
            pictures = self._breakdown_view(view.result.reference(view.reference), strategy, photo)
        except Exception as exc:
            return {self.ui.message: fail(exc, "showing the breakdown")}
        return {self.ui.message: "", **pictures}

    # -- views --------------------------------------------------------------------------------------
    def _reference_view(self, ref: ReferenceResult) -> dict:
        """Table, sweeps, centres, the breakdown's choices and its first strategy on its first photo."""
        ui = self.ui
        strategies = [(r.scores.label, r.name) for r in ref.strategies]
        photos = [(p.name, p.bundle_id) for p in ref.photos]
        strategy = strategies[0][1] if strategies else None
        photo = photos[0][1] if photos else None
        if strategy is not None and photo is not None:
            pictures = self._breakdown_view(ref, strategy, photo)
        else:
            pictures = {ui.stopped: None, ui.center: None, ui.curve: None,
                        ui.caption: "no strategy could be scored against this reference"}
        sweeps = plots.sweeps_figure(ref)
        sweeps.update_layout(width=None, autosize=True)  # fill the tab's width instead of a fixed 300 px per strategy
        return {ui.table: table_frame(ref), ui.sweeps: sweeps, ui.centers: plots.centers_figure(ref),
                ui.strategy: gr.update(choices=strategies, value=strategy),
                ui.photo: gr.update(choices=photos, value=photo), **pictures}

    def _breakdown_view(self, ref: ReferenceResult, strategy: str, bundle_id: str) -> dict:
        """The stopped frame, the centre frame, the caption and the curves of one strategy on one photo."""
        stop = next((s for s in ref.result(strategy).per_photo() if s.photo.bundle_id == bundle_id), None)
        if stop is None:
            raise ConfigError(f"{strategy} was not scored on that photo against {ref.name}")
        ui = self.ui
        return {ui.stopped: crisp(stop.stopped_rgb, FRAME_SIDE), ui.center: crisp(stop.center_rgb, FRAME_SIDE),
                ui.caption: breakdown_caption(stop, ref),
                ui.curve: plots.photo_curve_figure(ref, bundle_id, selected=stop.step)}


def own_paths(session: Session) -> list[Path]:
    """What a person may open when server folders are off: their session's folder, and the labels file
    of the set their Annotate tab has open (an uploaded set keeps its labels in the app's labels folder)."""
    own = [session.folder]
    if session.annotation is not None:
        own.append(session.annotation.store.path)
    return own


# -- inputs -----------------------------------------------------------------------------------------
def strategy_specs(chosen: Sequence[str], params: str) -> list[str]:
    """Ticked strategies as ``evaluate`` takes them: NAME sweeps its parameter, NAME=VALUE uses that value
    (``params``: "fixed_step=1000, norm_rate=0.2", read by the engine's ``parse_strategy_spec``)."""
    if not chosen:
        raise ConfigError("tick at least one strategy")
    given: dict[str, float] = {}
    for item in str(params or "").split(","):
        if not item.strip():
            continue
        name, value = parse_strategy_spec(item.strip())
        if value is None or not math.isfinite(value):
            raise ConfigError(f"'{item.strip()}': write NAME=VALUE with a finite number, e.g. fixed_step=1000")
        if STRATEGIES[name].param_name is None:
            raise ConfigError(f"{name} has no parameter to set")
        if name not in chosen:
            raise ConfigError(f"{name} has a value but is not ticked")
        given[name] = value
    return [f"{name}={given[name]:g}" if name in given else name for name in chosen]


# -- views ------------------------------------------------------------------------------------------
def default_reference(result: Evaluation) -> str:
    """The consensus when several annotators labeled, else the one annotator."""
    return result.references[-1].name if result.references else ""


def table_frame(ref: ReferenceResult) -> pd.DataFrame:
    """Table 1 for the tab: one row per strategy, floats rounded for reading."""
    rows = []
    for row in ref.table():
        cells = {}
        for key, header in TABLE_COLUMNS:
            value = row[key]
            cells[header] = round(value, DECIMALS) if isinstance(value, float) else ("" if value is None else value)
        rows.append(cells)
    return pd.DataFrame(rows, columns=[header for _, header in TABLE_COLUMNS])


def breakdown_caption(stop: PhotoStop, ref: ReferenceResult) -> str:
    """What the two frames are and how the stop scored."""
    res = ref.result(stop.strategy)
    param = "" if stop.param is None else f" with {res.scores.param_name} = {stop.param:g}"
    fired = "" if stop.fired else " (never fired: the last step)"
    loo = "" if stop.loo_param is None else f"{res.scores.param_name} = {stop.loo_param:g} → "
    return (f"**{stop.photo.name}** · {res.scores.label}{param} stops at step **{stop.step}**{fired}: "
            f"**{'hit' if stop.hit else 'miss'}** of the range {stop.range[0]}–{stop.range[1]} "
            f"(centre frame {stop.center_step}) · rel. centre error {stop.center_error:.3f} · "
            f"image norm error {stop.norm_error:.3f} · leave-one-out: {loo}step {stop.loo_step} "
            f"({'hit' if stop.loo_hit else 'miss'})")


def notes_markdown(view: EvaluationView) -> str:
    """What was left out and why, plainly."""
    lines = [f"{line} (unreadable bundle, skipped)" for line in view.unreadable]
    lines += list(view.result.notes)
    for ref in view.result.references:  # strategies left out entirely are in the notes already
        lines += [f"{name} not scored against {ref.name}: {why}" for name, why in ref.skipped.items()
                  if not any(note.startswith(f"{name}:") for note in view.result.notes)]
    return "\n".join(f"- {line}" for line in lines) if lines else "nothing was left out"


def downloads(result: Evaluation, out: Path) -> list[Path]:
    """table1.csv, a zip of every CSV, and the HTML report with every figure (the CLI's own writer)."""
    written = write_outputs(result, out, photos=False)
    csvs = [p for p in written if p.suffix == ".csv"]
    archive = out / "evaluation_csvs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in csvs:
            zf.write(path, path.name)
    return [out / "table1.csv", archive, out / "report.html"]
