"""What the Annotate tab's events do: open a bundle set, scrub, mark good ranges, move between bundles,
export and import labels. Every handler finds the caller's session, calls the engine (``LabelStore``,
``Trajectory``) and answers with component values; user errors become a message, never a crash.

Every range is written to the labels file the moment its end is marked (the store appends one fsynced
line under a file lock), so nothing is lost if the page or the server goes away.

Full views answer with ``VIEW`` values in this order:
(status, set info, photo, pixel art, slider, caption, chart, ranges, note, message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from pixelart.labels import LabelError, LabelStore
from ui.bundle_set import BundleSet, copy_uploads, labels_path, scan_folder, server_path
from ui.feedback import describe, fail, warn
from ui.session import Annotation, Session, SessionStore
from ui.viewer import ChartCache, clamp_step, slider_update, view_step

NO_NAME = "type your name in Annotator first: every range is saved under it"
NO_SET = "open a bundle folder or upload .bundle files first"
View = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]


class AnnotateActions:
    """The event handlers of one Annotate tab, bound to the app's session store."""

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def session(self, request: gr.Request | None) -> Session:
        """The caller's session."""
        return self.sessions.get(getattr(request, "session_hash", None))

    # -- opening a set ------------------------------------------------------------------------------
    def open_folder(self, name: str, folder: str, labels: str, request: gr.Request) -> View:
        """Open the bundles of a server folder, with ``labels`` (blank: labels.jsonl inside it)."""
        session = self.session(request)
        try:
            path = server_path(folder, session.folder)
            bundles = scan_folder(path)
            store_path = labels_path(path, labels, session.folder)
        except Exception as exc:
            return _unchanged(fail(exc, "opening the folder"))
        return self._open(session, bundles, store_path, name)

    def upload(self, name: str, files: list[str] | None, request: gr.Request) -> View:
        """Add uploaded .bundle files to the session's own set (labels file in the session folder)."""
        session = self.session(request)
        if not files:
            return _unchanged()
        work = session.subfolder("annotate")
        try:
            refused = copy_uploads(files, work / "bundles")
            bundles = scan_folder(work / "bundles", uploaded=True)
        except Exception as exc:
            return _unchanged(fail(exc, "opening the uploaded bundles"))
        bundles.unreadable[:0] = refused
        return self._open(session, bundles, work / "labels.jsonl", name)

    def _open(self, session: Session, bundles: BundleSet, store_path: Path, name: str) -> View:
        if store_path.suffix.lower() != ".jsonl":
            return _unchanged(warn(f"the labels file must be a .jsonl file, not {store_path.name} "
                                   "(a CSV export can be brought in with Import)"))
        if store_path.is_dir():
            return _unchanged(warn(f"{store_path} is a folder, not a labels file"))
        store = LabelStore(store_path)
        try:
            store.labels()  # a damaged file is reported now, with its line, not at the first save
        except Exception as exc:
            return _unchanged(fail(exc, "reading the labels file"))
        if not bundles.entries:
            return _unchanged(warn(f"no readable bundle in {bundles.folder}: " + "; ".join(bundles.unreadable)))
        session.annotation = annotation = Annotation(bundles, store, annotator=_name(name))
        annotation.index = self._resume_index(annotation, name)
        message = f"opened {len(bundles)} bundle(s)"
        if bundles.unreadable:
            message += f"; {len(bundles.unreadable)} unreadable file(s) skipped (listed on the left)"
        return self._show(session, name, message=message)

    def annotator_changed(self, name: str, request: gr.Request) -> View:
        """A (new) annotator name: show their ranges and resume at their first unlabeled bundle."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None or _name(name) == annotation.annotator:  # e.g. the name box merely lost focus
            return _unchanged()
        try:
            index = self._resume_index(annotation, name)
        except Exception as exc:
            return _unchanged(fail(exc, "reading the labels file"))
        annotation.annotator = _name(name)
        if index != annotation.index:
            annotation.index, annotation.trajectory, annotation.pending_start = index, None, None
        return self._show(session, name, keep_step=True)  # a newly chosen bundle starts at step 0 anyway

    @staticmethod
    def _resume_index(annotation: Annotation, name: str) -> int:
        """The first bundle this annotator has not labeled (the first bundle when all are, or no name)."""
        name = _name(name)
        if not name:
            return annotation.index
        done = annotation.store.labeled_bundles(name)
        return next((i for i, e in enumerate(annotation.bundles.entries) if e.bundle_id not in done), 0)

    # -- moving -------------------------------------------------------------------------------------
    def scrub(self, step: float, name: str, request: gr.Request) -> tuple[Any, Any, Any]:
        """Show a recorded step of the current bundle, with this annotator's ranges shaded."""
        annotation = self.session(request).annotation
        if annotation is None or annotation.trajectory is None:
            return gr.skip(), gr.skip(), NO_SET
        annotation.step = clamp_step(annotation.trajectory, step)
        try:
            return self._step_view(annotation, name, annotation.step)
        except Exception as exc:
            return gr.skip(), gr.skip(), fail(exc, "reading the labels file")

    def move(self, delta: int, name: str, request: gr.Request) -> View:
        """Previous (-1) or next (+1) bundle of the set."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return _unchanged(warn(NO_SET))
        index = annotation.index + delta
        if not 0 <= index < len(annotation.bundles):
            where = "first" if index < 0 else "last"
            return _unchanged(f"this is the {where} bundle of the set")
        annotation.index, annotation.trajectory, annotation.pending_start = index, None, None
        return self._show(session, name, note="")  # a note belongs to a range of the bundle left

    def previous(self, name: str, request: gr.Request) -> View:
        return self.move(-1, name, request)

    def next(self, name: str, request: gr.Request) -> View:
        return self.move(+1, name, request)

    # -- labels -------------------------------------------------------------------------------------
    def mark_start(self, name: str, step: float, request: gr.Request) -> tuple[str, str]:
        """Remember the range's first step (the slider's); nothing is saved until its end is marked."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None or annotation.trajectory is None:
            return gr.skip(), warn(NO_SET)
        if not _name(name):
            return gr.skip(), warn(NO_NAME)
        annotation.step = annotation.pending_start = clamp_step(annotation.trajectory, step)
        try:
            status = self._status(annotation, name)
        except Exception as exc:
            return gr.skip(), fail(exc, "reading the labels file")
        return status, f"start marked at step {annotation.pending_start}: now mark the end"

    def mark_end(self, name: str, step: float, note: str, request: gr.Request) -> View:
        """Save the range from the marked start to the slider's step, with the note, at once."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None or annotation.trajectory is None:
            return _unchanged(warn(NO_SET))
        if not _name(name):
            return _unchanged(warn(NO_NAME))
        if annotation.pending_start is None:
            return _unchanged(warn("mark the start first (Mark start, or the [ key, at the range's first step)"))
        trajectory = annotation.trajectory
        annotation.step = end = clamp_step(trajectory, step)
        try:
            label = annotation.store.add_for(trajectory, _name(name), annotation.pending_start, end, str(note or ""))
        except LabelError as exc:  # e.g. the end before the start: the start stays marked
            return _unchanged(warn(describe(exc, "saving the range")))
        except Exception as exc:
            return _unchanged(fail(exc, "saving the range"))
        annotation.pending_start = None
        saved = f"saved {label.start}–{label.end} on {label.bundle} to {annotation.store.path.name}"
        return self._show(session, name, keep_step=True, note="", message=saved)

    def delete(self, name: str, label_id: str | None, request: gr.Request) -> View:
        """Delete one of this annotator's ranges on the current bundle."""
        session = self.session(request)
        annotation = session.annotation
        if annotation is None:
            return _unchanged(warn(NO_SET))
        if not label_id:
            return _unchanged(warn("choose one of your ranges to delete"))
        try:
            label = annotation.store.get(label_id)
            if label.annotator != _name(name):  # ranges of other annotators are not theirs to delete
                raise LabelError(f"that range was marked by {label.annotator}, not by {_name(name) or 'you'}")
            annotation.store.delete(label_id)
        except Exception as exc:
            return _unchanged(fail(exc, "deleting the range"))
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
            stem = store.path.stem
            paths = [store.export_jsonl(folder / f"{stem}.jsonl"), store.export_csv(folder / f"{stem}.csv")]
            count = len(store.labels())
        except Exception as exc:
            return None, fail(exc, "exporting the labels")
        return [str(p) for p in paths], f"{count} label(s) exported as JSON Lines and CSV"

    def import_labels(self, name: str, path: str | None, request: gr.Request) -> View:
        """Merge an uploaded labels file (.jsonl store or export, or .csv) into the set's file."""
        session = self.session(request)
        annotation = session.annotation
        if not path:
            return _unchanged()
        if annotation is None:
            return _unchanged(warn(NO_SET))
        try:
            report = annotation.store.import_file(path)
        except Exception as exc:
            return _unchanged(fail(exc, "importing the labels"))
        message = (f"imported {Path(path).name}: {report.added} added, {report.updated} updated, "
                   f"{report.skipped} skipped (already here)")
        return self._show(session, name, keep_step=True, message=message)

    def release(self, request: gr.Request) -> None:
        """The page went away (shared with the other tabs' unload)."""
        self.sessions.release(getattr(request, "session_hash", None))

    # -- views --------------------------------------------------------------------------------------
    def _show(
        self, session: Session, name: str, *, keep_step: bool = False, note: str | None = None, message: str = "",
    ) -> View:
        """Every output for the current bundle; ``keep_step`` keeps the step shown (unless the bundle
        was just opened); ``note`` None leaves the note field alone."""
        annotation = session.annotation
        fresh = annotation.trajectory is None
        try:
            if fresh:
                annotation.trajectory = annotation.entry.load()
                annotation.chart_cache = ChartCache()  # its key holds id(trajectory), which Python reuses
            if not keep_step or fresh:
                annotation.step = 0  # a bundle is first shown at its first step
            step = annotation.step
            art, chart, caption = self._step_view(annotation, name, step)
            status, ranges = self._status(annotation, name), self._ranges(annotation, name)
        except Exception as exc:
            return _unchanged(fail(exc, f"showing {annotation.entry.name}"))
        trajectory = annotation.trajectory
        photo = trajectory.input_image if fresh else gr.skip()
        slider = slider_update(trajectory, step)
        note = gr.skip() if note is None else note
        return (status, _set_info(annotation), photo, art, slider, caption, chart, ranges, note, message)

    @staticmethod
    def _step_view(annotation: Annotation, name: str, step: float | int | None) -> tuple[Any, Any, str]:
        ranges = annotation.store.ranges(annotation.entry.bundle_id, _name(name)) if _name(name) else []
        # no strategy markers here: an annotator judges the pixel art, not where the strategies stop
        return view_step(annotation.trajectory, step, annotation.chart_cache, ranges=ranges, show_stops=False)

    @staticmethod
    def _status(annotation: Annotation, name: str) -> str:
        """Which bundle, how far this annotator is, their ranges here and a start marked."""
        entry, total, name = annotation.entry, len(annotation.bundles), _name(name)
        parts = [f"**{entry.name}** · bundle {annotation.index + 1} of {total}"]
        if name:
            done = annotation.store.labeled_bundles(name) & {e.bundle_id for e in annotation.bundles.entries}
            parts.append(f"**{len(done)} of {total} labeled** by {name}")
            mine = annotation.store.labels(bundle_id=entry.bundle_id, annotator=name)
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
        mine = annotation.store.labels(bundle_id=annotation.entry.bundle_id, annotator=name) if name else []
        choices = [(f"{lab.start}–{lab.end}" + (f" · {lab.note}" if lab.note else ""), lab.label_id) for lab in mine]
        return gr.update(choices=choices, value=None, label=f"Your ranges on this bundle ({len(choices)})")


def _name(name: str | None) -> str:
    return str(name or "").strip()


def _set_info(annotation: Annotation) -> str:
    """Where the bundles and the labels file are, and what was skipped."""
    bundles, store = annotation.bundles, annotation.store
    lines = [f"**Labels file:** `{store.path}`"]
    if bundles.uploaded:
        lines.append("(in this session's folder: it is deleted when the session ends, so **Export** your labels)")
    else:
        lines.append("(shared by everyone labelling this folder; each annotator's ranges stay apart by name)")
    lines.append(f"\n**Bundles:** {len(bundles)} in `{bundles.folder}`")
    if bundles.unreadable:
        lines.append("\n**Unreadable, skipped:**\n" + "\n".join(f"- {line}" for line in bundles.unreadable))
    return " ".join(lines[:2]) + "\n" + "\n".join(lines[2:])


def _unchanged(message: str = "") -> View:
    return (*(gr.skip(),) * 9, message)

