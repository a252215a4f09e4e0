"""What the Annotate tab's events do: open a bundle set, scrub, mark good ranges, move between bundles,
export and import labels. Every handler finds the caller's session, calls the engine (``LabelStore``,
``Trajectory``) and answers with component values; user errors become a message, never a crash.

Every range is written to the labels file the moment its end is marked (the store appends one fsynced
line under a file lock), so nothing is lost if the page or the server goes away.

Handlers answer with dicts keyed by the tab's components (``AnnotateView``); what a dict leaves out
stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from pixelart.labels import LabelError, LabelStore
from pixelart.stopping import PIXELART_STRATEGIES
from ui.bundle_set import BundleSet, copy_uploads, labels_path, open_set, server_path, upload_labels_path
from ui.common import SessionActions
from ui.feedback import describe, fail, warn
from ui.session import Annotation, Session, SessionStore
from ui.viewer import Viewer, clamp_step, slider_update, view_step

NO_NAME = "type your name in Annotator first: every range is saved under it"
NO_SET = "open a bundle folder or upload .bundle files first"


@dataclass
class AnnotateView:
    """The Annotate tab's components that its handlers fill."""

    status: gr.Markdown
    info: gr.Markdown
    viewer: Viewer
    ranges: gr.Dropdown
    note: gr.Textbox
    message: gr.Markdown

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Everything a full view fills, in the API's order: (status, set info, photo, pixel art,
        slider, caption, chart, ranges, note, message)."""
        v = self.viewer
        return [self.status, self.info, v.photo, v.art, v.slider, v.caption, v.chart, self.ranges, self.note,
                self.message]


class AnnotateActions(SessionActions):
    """The event handlers of one Annotate tab, bound to the app's session store and its components."""

    def __init__(self, sessions: SessionStore, ui: AnnotateView, *, server_folders: bool = False) -> None:
        super().__init__(sessions, server_folders=server_folders)
        self.ui = ui

    # -- opening a set ------------------------------------------------------------------------------
    def open_folder(self, name: str, folder: str, labels: str, request: gr.Request) -> dict:
        """Open the bundles of a server folder, with ``labels`` (blank: labels.jsonl inside it)."""
        session = self.session(request)
        try:
            path = server_path(folder, self.server_folders, [session.folder])
            bundles = open_set(path)
            store_path = labels_path(path, labels, self.server_folders, [session.folder])
        except Exception as exc:
            return self._say(fail(exc, "opening the folder"))
        return self._open(session, bundles, store_path, name)

    def upload(self, name: str, files: list[str] | None, request: gr.Request) -> dict:
        """Add uploaded .bundle files to the session's own set; its labels live under the app's labels
        folder, in the file of the set's run ids (found again after a reload)."""
        session = self.session(request)
        if not files:
            return gr.skip()  # nothing changes
        work = session.subfolder("annotate")
        try:
            refused = copy_uploads(files, work / "bundles")
            bundles = open_set(work / "bundles", uploaded=True)
        except Exception as exc:
            return self._say(fail(exc, "opening the uploaded bundles"))
        bundles.skipped[:0] = refused
        store_path = upload_labels_path(self.sessions.labels_root, bundles.run_ids)
        previous = session.annotation
        if previous is not None and previous.bundles.uploaded and previous.store.path != store_path:
            # the set grew: its labels so far come along into the file of the larger set
            try:
                if previous.store.path.exists():
                    LabelStore(store_path).import_file(previous.store.path)
            except Exception as exc:
                return self._say(fail(exc, "carrying the set's labels over"))
        return self._open(session, bundles, store_path, name)

    def _open(self, session: Session, bundles: BundleSet, store_path: Path, name: str) -> dict:
        if store_path.suffix.lower() != ".jsonl":
            return self._say(warn(f"the labels file must be a .jsonl file, not {store_path.name} "
                                  "(a CSV export can be brought in with Import)"))
        if store_path.is_dir():
            return self._say(warn(f"{store_path} is a folder, not a labels file"))
        store = LabelStore(store_path)
        try:
            store.labels()  # a damaged file is reported now, with its line, not at the first save
        except Exception as exc:
            return self._say(fail(exc, "reading the labels file"))
        if not bundles.trajectories:
            return self._say(warn(f"no readable bundle in {bundles.folder}: " + "; ".join(bundles.skipped)))
        session.annotation = annotation = Annotation(bundles, store, annotator=_name(name))
        annotation.index = self._resume_index(annotation, name)
        message = f"opened {len(bundles)} bundle(s)"
        if bundles.skipped:
            message += f"; {len(bundles.skipped)} unreadable file(s) skipped (listed on the left)"
        labeled = store.labeled_bundles(_name(name)) & set(bundles.run_ids) if _name(name) else set()
        if bundles.uploaded and labeled:
            message += f"; your labels on {len(labeled)} of them are back"
        return self._show(session, name, message=message)

    def annotator_changed(self, name: str, request: gr.Request) -> dict:
        """A (new) annotator name: show their ranges and resume at their first unlabeled bundle."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None or _name(name) == annotation.annotator:  # e.g. the name box merely lost focus
            return gr.skip()  # nothing changes
        try:
            index = self._resume_index(annotation, name)
        except Exception as exc:
            return self._say(fail(exc, "reading the labels file"))
        annotation.annotator = _name(name)
        if index != annotation.index:
            annotation.go_to(index)
        return self._show(session, name, keep_step=True)  # a newly chosen bundle starts at step 0 anyway

    @staticmethod
    def _resume_index(annotation: Annotation, name: str) -> int:
        """The first bundle this annotator has not labeled (the first bundle when all are, or no name)."""
        name = _name(name)
        if not name:
            return annotation.index
        done = annotation.store.labeled_bundles(name)
        return next((i for i, run_id in enumerate(annotation.bundles.run_ids) if run_id not in done), 0)

    # -- moving -------------------------------------------------------------------------------------
    def scrub(self, step: float, name: str, request: gr.Request) -> dict:
        """Show a recorded step of the current bundle, with this annotator's ranges shaded."""
        annotation = self.session(request).annotation
        caption = self.ui.viewer.caption
        if annotation is None:
            return {caption: NO_SET}
        annotation.step = clamp_step(annotation.trajectory, step)
        try:
            return self._step_view(annotation, name, annotation.step)
        except LabelError as exc:
            return {caption: fail(exc, "reading the labels file")}
        except Exception as exc:  # e.g. a damaged frame
            return {caption: fail(exc, f"showing step {annotation.step} of {annotation.name}")}

    def move(self, delta: int, name: str, request: gr.Request) -> dict:
        """Previous (-1) or next (+1) bundle of the set."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return self._say(warn(NO_SET))
        index = annotation.index + delta
        if not 0 <= index < len(annotation.bundles):
            where = "first" if index < 0 else "last"
            return self._say(f"this is the {where} bundle of the set")
        annotation.go_to(index)
        return self._show(session, name, note="")  # a note belongs to a range of the bundle left

    def previous(self, name: str, request: gr.Request) -> dict:
        return self.move(-1, name, request)

    def next(self, name: str, request: gr.Request) -> dict:
        return self.move(+1, name, request)

    # -- labels -------------------------------------------------------------------------------------
    def mark_start(self, name: str, step: float, request: gr.Request) -> dict:
        """Remember the range's first step (the slider's); nothing is saved until its end is marked."""
        annotation = self.session(request).annotation
        if annotation is None:
            return self._say(warn(NO_SET))
        if not _name(name):
            return self._say(warn(NO_NAME))
        annotation.step = annotation.pending_start = clamp_step(annotation.trajectory, step)
        try:
            status = self._status(annotation, name)
        except Exception as exc:
            return self._say(fail(exc, "reading the labels file"))
        return {self.ui.status: status,
                self.ui.message: f"start marked at step {annotation.pending_start}: now mark the end"}

    def mark_end(self, name: str, step: float, note: str, request: gr.Request) -> dict:
        """Save the range from the marked start to the slider's step, with the note, at once."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return self._say(warn(NO_SET))
        if not _name(name):
            return self._say(warn(NO_NAME))
        if annotation.pending_start is None:
            return self._say(warn("mark the start first (Mark start, or the [ key, at the range's first step)"))
        trajectory = annotation.trajectory
        annotation.step = end = clamp_step(trajectory, step)
        # an end marked before the start is the same range, marked from its other side
        swapped = end < annotation.pending_start
        first, last = sorted((annotation.pending_start, end))
        try:
            label = annotation.store.add_for(trajectory, _name(name), first, last, str(note or ""))
        except LabelError as exc:  # the start stays marked: the end can be marked again
            return self._say(warn(describe(exc, "saving the range")))
        except Exception as exc:
            return self._say(fail(exc, "saving the range"))
        annotation.pending_start = None
        saved = f"saved {label.start}–{label.end} on {label.bundle} to {annotation.store.path.name}"
        if swapped:
            saved += " (the end was before the start: swapped)"
        return self._show(session, name, keep_step=True, note="", message=saved)

    def delete(self, name: str, label_id: str | None, request: gr.Request) -> dict:
        """Delete one of this annotator's ranges on the current bundle."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return self._say(warn(NO_SET))
        if not label_id:
            return self._say(warn("choose one of your ranges to delete"))
        try:
            label = annotation.store.get(label_id)
            if label.annotator != _name(name):  # ranges of other annotators are not theirs to delete
                raise LabelError(f"that range was marked by {label.annotator}, not by {_name(name) or 'you'}")
            annotation.store.delete(label_id)
        except Exception as exc:
            return self._say(fail(exc, "deleting the range"))
        return self._show(session, name, keep_step=True, message=f"deleted {label.start}–{label.end}")

    def export(self, request: gr.Request) -> tuple[Any, str]:
        """Every current label of the set's file (all annotators), as JSON Lines and as CSV."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return None, warn(NO_SET)
        store = annotation.store
        folder = session.subfolder("annotate-exports")
        try:
            stem = "labels" if annotation.bundles.uploaded else store.path.stem
            paths = [store.export_jsonl(folder / f"{stem}.jsonl"), store.export_csv(folder / f"{stem}.csv")]
            count = len(store.labels())
        except Exception as exc:
            return None, fail(exc, "exporting the labels")
        return [str(p) for p in paths], f"{count} label(s) exported as JSON Lines and CSV"

    def import_labels(self, name: str, path: str | None, request: gr.Request) -> dict:
        """Merge an uploaded labels file (.jsonl store or export, or .csv) into the set's file."""
        session = self.session(request)
        annotation = session.annotation
        if not path:
            return gr.skip()  # nothing changes
        if annotation is None:
            return self._say(warn(NO_SET))
        try:
            report = annotation.store.import_file(path)
        except Exception as exc:
            return self._say(fail(exc, "importing the labels"))
        message = (f"imported {Path(path).name}: {report.added} added, {report.updated} updated, "
                   f"{report.skipped} skipped (already here)")
        return self._show(session, name, keep_step=True, message=message)

    def upload_help(self, request: gr.Request) -> dict:
        """The uploaded-bundles help: shown unless a server folder is open (it is about uploads only)."""
        annotation = self.session(request).annotation
        return gr.update(visible=annotation is None or annotation.bundles.uploaded)

    # -- views --------------------------------------------------------------------------------------
    def _say(self, message: str) -> dict:
        return {self.ui.message: message}

    def _show(
        self, session: Session, name: str, *, keep_step: bool = False, note: str | None = None, message: str = "",
    ) -> dict:
        """Every output for the current bundle; ``keep_step`` keeps the step shown (unless the bundle
        was just chosen); ``note`` None leaves the note field alone."""
        ui, annotation = self.ui, session.annotation
        fresh = annotation.fresh
        if not keep_step or fresh:
            annotation.step = 0  # a bundle is first shown at its first step
        trajectory, step = annotation.trajectory, annotation.step
        out = {ui.info: _set_info(annotation), ui.message: message,
               ui.viewer.slider: slider_update(trajectory, step)}
        if note is not None:
            out[ui.note] = note
        if fresh:
            out[ui.viewer.photo] = trajectory.input_image
        try:
            out[ui.status], out[ui.ranges] = self._status(annotation, name), self._ranges(annotation, name)
        except Exception as exc:
            return {**out, ui.message: fail(exc, "reading the labels file")}
        annotation.fresh = False
        try:
            out.update(self._step_view(annotation, name, step))
        except Exception as exc:  # e.g. a frame damaged after the set was opened: say so, stay on it
            out.update({ui.viewer.art: None, ui.viewer.caption: "", ui.message: fail(exc, f"showing {annotation.name}")})
        return out

    def _step_view(self, annotation: Annotation, name: str, step: float | int | None) -> dict:
        ranges = annotation.store.ranges(annotation.trajectory.run_id, _name(name)) if _name(name) else []
        # no strategy markers here: an annotator judges the pixel art, not where the strategies stop
        art, chart, caption = view_step(annotation.trajectory, step, annotation.chart_cache, PIXELART_STRATEGIES, ranges=ranges,
                                        show_stops=False)
        v = self.ui.viewer
        return {v.art: art, v.chart: chart, v.caption: caption}

    @staticmethod
    def _status(annotation: Annotation, name: str) -> str:
        """Which bundle, how far this annotator is, their ranges here and a start marked."""
        total, name = len(annotation.bundles), _name(name)
        parts = [f"**{annotation.name}** · bundle {annotation.index + 1} of {total}"]
        if name:
            done = annotation.store.labeled_bundles(name) & set(annotation.bundles.run_ids)
            parts.append(f"**{len(done)} of {total} labeled** by {name}")
            mine = annotation.store.labels(bundle_id=annotation.trajectory.run_id, annotator=name)
            if mine:
                parts.append("your ranges here: " + ", ".join(f"{lab.start}–{lab.end}" for lab in mine))
        else:
            parts.append("type your name to label")
        if annotation.pending_start is not None:
            parts.append(f"start marked at step {annotation.pending_start}: mark the end")
        return " · ".join(parts)

    @staticmethod
    def _ranges(annotation: Annotation, name: str) -> dict:
        """The range selector: this annotator's ranges on this bundle, by label id."""
        name = _name(name)
        mine = annotation.store.labels(bundle_id=annotation.trajectory.run_id, annotator=name) if name else []
        choices = [(f"{lab.start}–{lab.end}" + (f" · {lab.note}" if lab.note else ""), lab.label_id) for lab in mine]
        return gr.update(choices=choices, value=None, label=f"Your ranges on this bundle ({len(choices)})")


def _name(name: str | None) -> str:
    return str(name or "").strip()


def _set_info(annotation: Annotation) -> str:
    """Where the bundles and the labels file are, and what was skipped."""
    bundles, store = annotation.bundles, annotation.store
    if bundles.uploaded:
        lines = [f"**Labels file:** `{store.path.name}` in the app's labels folder, kept by this set's runs: "
                 "upload the same bundles again (after a reload, too) and your labels are back. "
                 "It is shared with whoever uploads these same runs; **Export** them to keep your own copy."]
    else:
        lines = [f"**Labels file:** `{store.path}` (shared by everyone labelling this folder; each "
                 "annotator's ranges stay apart by name)"]
    lines.append(f"\n**Bundles:** {len(bundles)} in `{bundles.folder}`")
    if bundles.skipped:
        lines.append("\n**Unreadable, skipped:**\n" + "\n".join(f"- {line}" for line in bundles.skipped))
    return lines[0] + "\n" + "\n".join(lines[1:])
