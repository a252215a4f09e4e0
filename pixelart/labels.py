"""Labels of good step ranges: one human-readable JSON Lines file per annotator set.

Seed 000 §4.3: a person marks, for each trajectory, the range of SDS steps where the pixel art keeps
the photo's visual and semantic features. Several annotators may share one file; their labels stay
apart by the ``annotator`` field, and a photo may get several ranges from one annotator.

File format (UTF-8, one JSON object per line, readable with any text editor or ``jq``)::

    {"format": "pixelart-labels", "version": 1}
    {"op": "add", "label_id": "9f…", "bundle_id": "3c…", "bundle": "look.bundle", "annotator": "aki",
     "start": 120, "end": 480, "note": "sunglasses still clear", "time": "2025-05-01T10:00:00.000+00:00",
     "steps": 10001}
    {"op": "edit", "label_id": "9f…", ... the label's fields after the edit ...}
    {"op": "delete", "label_id": "9f…", "bundle_id": "3c…", "annotator": "aki", "time": "…"}

``bundle_id`` is the bundle's ``config["run_id"]`` (renaming a bundle file keeps its labels),
``bundle`` its file name for humans, ``steps`` the bundle's recorded steps when it was labeled.

Why an append-only log rather than rewriting the file: a save appends one line and fsyncs it, so it
costs the same for the thousandth label as for the first; an interrupted save can only leave a torn
*last* line, which readers ignore (the recovery rule) and the next writer cuts off before appending;
every earlier line, hence every earlier label, is untouched; and edits and deletions stay visible as
history. ``compact`` rewrites the file as the current labels only (temp file + fsync + rename).
Writers take a file lock (``filelock``) around read-check-append, so two processes never interleave
or lose a label; readers need no lock. The log itself (lock, durable append, torn-tail repair,
capped reading, line parsing) is ``workbench.jsonl_log``, shared with the questionnaire's votes.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from workbench.atomic import atomic_path
from workbench.errors import UserError
from workbench.jsonl_log import JsonlLog, line, parse_records, read_capped

FORMAT = "pixelart-labels"
VERSION = 1
KIND = "labels file"  # what messages call the file
CSV_FIELDS = ("label_id", "bundle_id", "bundle", "annotator", "start", "end", "note", "time", "steps")


class LabelError(UserError, ValueError):
    """A label or a labels file cannot be used (bad range, empty annotator, damaged file, ...)."""


@dataclass(frozen=True)
class Label:
    """One good range [start, end] (inclusive steps) of one bundle, by one annotator."""

    label_id: str
    bundle_id: str
    bundle: str
    annotator: str
    start: int
    end: int
    note: str = ""
    time: str = ""
    steps: int | None = None  # recorded steps of the bundle (valid steps 0..steps-1), if known

    @property
    def center(self) -> float:
        """c = (s + e) / 2."""
        return (self.start + self.end) / 2

    @property
    def width(self) -> int:
        """w = e - s."""
        return self.end - self.start

    def same_range(self, other: "Label") -> bool:
        """Whether two labels mark the same range of the same bundle by the same annotator."""
        return (self.bundle_id, self.annotator, self.start, self.end) == (
            other.bundle_id, other.annotator, other.start, other.end)

    def to_record(self, op: str = "add") -> dict[str, Any]:
        """The JSON line of this label (``op`` first, so the file reads well)."""
        return {"op": op, **asdict(self)}


def now_iso() -> str:
    """The current time, ISO 8601 with milliseconds and the UTC offset."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def validate(label: Label) -> Label:
    """Check a label; raise LabelError with a one-line reason."""
    if not str(label.annotator).strip():
        raise LabelError("the annotator name is empty: type your name before labelling")
    for name in ("start", "end"):
        value = getattr(label, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise LabelError(f"range {name} must be a whole step number, got {value!r}")
    problem = label_problem(label)
    if problem is not None:
        hint = ": mark the start first" if label.start > label.end else ""
        raise LabelError(problem + hint + (f" ({label.bundle})" if label.bundle and "outside" in problem else ""))
    return label


MAX_STEP = 10**9  # far beyond any run: a larger step number is a typo or a hostile file


def label_problem(label: Label, steps: int | None = None) -> str | None:
    """Why a label's range cannot apply to its bundle, or None when it can. ``steps``: the bundle's
    recorded steps when it is at hand, else the count stored with the label (if any)."""
    steps = label.steps if steps is None else steps
    if not str(label.bundle_id).strip():
        return "the label names no bundle (bundle_id is empty)"
    if label.start < 0:
        return f"range start {_step(label.start)} is before step 0"
    if label.start > label.end:
        return f"range start {_step(label.start)} is after its end {_step(label.end)}"
    if steps is not None and label.end > steps - 1:
        return f"range {_step(label.start)}..{_step(label.end)} is outside the bundle's steps 0..{steps - 1}"
    if label.end > MAX_STEP:
        return f"range end {_step(label.end)} is beyond any run"
    return None


def describe(label: Label) -> str:
    """'label 9f3c1a2b (aki on look.bundle, 120..480)': which label, for messages."""
    where = label.bundle or label.bundle_id or "no bundle"
    return f"label {label.label_id[:8]} ({label.annotator} on {where}, {_step(label.start)}..{_step(label.end)})"


def set_aside(labels: Iterable[Label], steps_of: dict[str, int] | None = None) -> list[tuple[Label, str]]:
    """The labels that cannot apply, each with why. ``steps_of`` (bundle id -> recorded steps) given:
    a label of a bundle not in it cannot apply either."""
    out = []
    for lab in labels:
        if steps_of is not None and lab.bundle_id not in steps_of:
            out.append((lab, NOT_HERE))
            continue
        problem = label_problem(lab, None if steps_of is None else steps_of[lab.bundle_id])
        if problem is not None:
            out.append((lab, problem))
    return out


NOT_HERE = "its bundle is not among these bundles"
MAX_NOTES = 20  # set-aside labels listed one by one; past this, counted


def set_aside_notes(aside: Sequence[tuple[Label, str]], verb: str = "set aside") -> list[str]:
    """One line per label that cannot apply (which, and why); labels of bundles not at hand are
    grouped by bundle, so evaluating part of a folder's labels does not print thousands of lines."""
    notes, unknown = [], {}
    for lab, why in aside:
        if why == NOT_HERE:
            name = lab.bundle or lab.bundle_id
            unknown[name] = unknown.get(name, 0) + 1
        else:
            notes.append(f"{describe(lab)} {verb}: {why}")
    if len(notes) > MAX_NOTES:
        notes[MAX_NOTES:] = [f"… and {len(notes) - MAX_NOTES} more label(s) {verb}"]
    if unknown:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(unknown.items())[:5])
        notes.append(f"{sum(unknown.values())} label(s) of {len(unknown)} bundle(s) not in the bundle folder "
                     f"{verb}: {listed}" + (" …" if len(unknown) > 5 else ""))
    return notes


def _step(value: int) -> str:
    return str(value) if abs(value) <= 10**12 else f"{float(value):.3g}"


def _as_int(value: Any, field: str, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise LabelError(f"{where}: {field} '{value}' is not a number") from None
    if not as_float.is_integer():
        raise LabelError(f"{where}: {field} {value} is not a whole step number")
    return int(as_float)


def label_from_mapping(data: dict[str, Any], where: str = "label") -> Label:
    """A Label from a JSON record or a CSV row (strings are converted; unknown keys ignored)."""
    try:
        start, end = _as_int(data["start"], "start", where), _as_int(data["end"], "end", where)
        if start is None or end is None:
            raise KeyError("start" if start is None else "end")
        return Label(
            label_id=str(data.get("label_id") or uuid.uuid4().hex),
            bundle_id=str(data["bundle_id"]),
            bundle=str(data.get("bundle") or ""),
            annotator=str(data["annotator"]).strip(),
            start=start,
            end=end,
            note=str(data.get("note") or ""),
            time=str(data.get("time") or ""),
            steps=_as_int(data.get("steps"), "steps", where),
        )
    except KeyError as exc:
        raise LabelError(f"{where}: the field {exc.args[0]!r} is missing") from None


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class _State:
    """Labels after replaying a log: current ones by id, ids deleted, events seen."""

    labels: dict[str, Label]
    deleted: set[str]
    events: int


def _replay(records: Iterable[tuple[int, dict[str, Any]]], name: str) -> _State:
    """The labels after the log's records (the header already checked and skipped)."""
    state = _State({}, set(), 0)
    for number, record in records:
        op = record.get("op", "add")
        where = f"{name} line {number}"
        state.events += 1
        if op in ("add", "edit"):
            label = label_from_mapping(record, where)
            state.labels[label.label_id] = label
            state.deleted.discard(label.label_id)
        elif op == "delete":
            state.labels.pop(str(record.get("label_id")), None)
            state.deleted.add(str(record.get("label_id")))
        else:
            raise LabelError(f"{where}: unknown operation {op!r}")
    return state


def read_labels(path: str | os.PathLike) -> list[Label]:
    """The current labels in a labels file (JSON Lines log or export) or a CSV export."""
    return list(_read_any(Path(path)).labels.values())


def _read_any(path: Path) -> _State:
    try:
        data = read_capped(path, LabelError, KIND)
    except FileNotFoundError:
        raise LabelError(f"labels file {path} does not exist") from None
    except IsADirectoryError:
        raise LabelError(f"{path} is a folder, not a labels file") from None
    if path.suffix.lower() == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelError(
                f"{path.name} is not UTF-8 text: save the labels CSV as UTF-8 (or use the .jsonl file)"
            ) from None
        return _State({lab.label_id: lab for lab in _parse_csv(text, path.name)}, set(), 0)
    return _replay(parse_records(data, path.name, FORMAT, LabelError, KIND), path.name)


def _parse_csv(text: str, name: str) -> list[Label]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = {"bundle_id", "annotator", "start", "end"} - set(reader.fieldnames or ())
        if missing:
            raise LabelError(f"{name} is not a labels CSV: columns {', '.join(sorted(missing))} are missing")
        return [label_from_mapping(row, f"{name} row {i}") for i, row in enumerate(reader, start=2)]
    except csv.Error as exc:  # e.g. a field over the csv module's size limit: not a labels export
        raise LabelError(f"{name} is not a readable CSV ({exc}); export the labels again") from None


# -- the store -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    added: int
    updated: int
    skipped: int


class LabelStore:
    """Add, edit, delete, list, export and import labels in one JSON Lines file (see module doc)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.log = JsonlLog(self.path, FORMAT, VERSION, error=LabelError, kind=KIND)
        self._cache: tuple[tuple[int, int], _State] | None = None

    # -- reading ----------------------------------------------------------------------------------
    def _state(self) -> _State:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return _State({}, set(), 0)
        key = (st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, _replay(self.log.numbered_records(), self.path.name))
        return self._cache[1]

    def labels(self, *, bundle_id: str | None = None, annotator: str | None = None) -> list[Label]:
        """Current labels, optionally of one bundle and/or one annotator, sorted by annotator, bundle, start."""
        found = [
            lab for lab in self._state().labels.values()
            if (bundle_id is None or lab.bundle_id == bundle_id) and (annotator is None or lab.annotator == annotator)
        ]
        return sorted(found, key=lambda lab: (lab.annotator, lab.bundle, lab.bundle_id, lab.start, lab.end))

    def ranges(self, bundle_id: str, annotator: str) -> list[tuple[int, int]]:
        """The (start, end) ranges one annotator marked on one bundle."""
        return [(lab.start, lab.end) for lab in self.labels(bundle_id=bundle_id, annotator=annotator)]

    def get(self, label_id: str) -> Label:
        """One current label by id."""
        try:
            return self._state().labels[label_id]
        except KeyError:
            raise LabelError(f"no label with id '{label_id}' (it may have been deleted)") from None

    def annotators(self) -> list[str]:
        """Everyone who has a current label here."""
        return sorted({lab.annotator for lab in self._state().labels.values()})

    def labeled_bundles(self, annotator: str) -> set[str]:
        """Bundle ids this annotator has at least one range on (for "n of N labeled")."""
        return {lab.bundle_id for lab in self._state().labels.values() if lab.annotator == annotator}

    # -- writing ----------------------------------------------------------------------------------
    def add(
        self, bundle_id: str, annotator: str, start: int, end: int, *, bundle: str = "", note: str = "",
        steps: int | None = None,
    ) -> Label:
        """Record a new range; returns it with its new id."""
        label = validate(Label(uuid.uuid4().hex, str(bundle_id), bundle, str(annotator).strip(), start, end,
                               note, now_iso(), steps))
        self._append([label.to_record("add")])
        return label

    def add_for(self, trajectory: Any, annotator: str, start: int, end: int, note: str = "") -> Label:
        """Record a range on an opened trajectory (its run id, file name and step count)."""
        name = trajectory.path.name if trajectory.path is not None else ""
        return self.add(trajectory.run_id, annotator, start, end, bundle=name, note=note, steps=len(trajectory))

    def edit(
        self, label_id: str, *, start: int | None = None, end: int | None = None, note: str | None = None
    ) -> Label:
        """Change a label's range or note (checked like a new one)."""
        with self._locked():
            old = self.get(label_id)
            new = validate(replace(
                old, start=old.start if start is None else start, end=old.end if end is None else end,
                note=old.note if note is None else note, time=now_iso(),
            ))
            self._write([new.to_record("edit")])
        return new

    def delete(self, label_id: str) -> None:
        """Remove a label (recorded as a deletion line)."""
        with self._locked():
            old = self.get(label_id)
            self._write([{"op": "delete", "label_id": old.label_id, "bundle_id": old.bundle_id,
                          "annotator": old.annotator, "time": now_iso()}])

    def _append(self, records: list[dict[str, Any]]) -> None:
        with self._locked():
            self._write(records)

    def _locked(self) -> AbstractContextManager[None]:
        return self.log.locked()

    def _write(self, records: list[dict[str, Any]]) -> None:
        """Append records durably (caller holds the lock); the next read replays the file again."""
        try:
            self.log.append_locked(records)
        finally:
            self._cache = None  # a torn tail may have been cut off even when the append failed

    # -- export / import / compact ------------------------------------------------------------------
    def export_jsonl(self, path: str | os.PathLike, *, annotator: str | None = None) -> Path:
        """Write the current labels (no history) as a labels file, atomically."""
        lines = [line(self.log.header)]
        lines += [line(lab.to_record("add")) for lab in self.labels(annotator=annotator)]
        return _atomic_write(Path(path), b"".join(lines))

    def export_csv(self, path: str | os.PathLike, *, annotator: str | None = None) -> Path:
        """Write the current labels as CSV (one row per range), atomically."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for lab in self.labels(annotator=annotator):
            row = asdict(lab)
            row["steps"] = "" if lab.steps is None else lab.steps
            writer.writerow(row)
        return _atomic_write(Path(path), buf.getvalue().encode("utf-8"))

    def import_file(self, path: str | os.PathLike) -> ImportReport:
        """Merge labels from a labels file, an export or a CSV: no duplicates, newer edits win.

        A label whose id is here already is skipped when equal and updated when the imported one is
        newer; one deleted here stays deleted; a label with a new id but the same bundle, annotator
        and range as one here is a duplicate and skipped.
        """
        incoming = list(_read_any(Path(path)).labels.values())
        for lab in incoming:
            validate(lab)
        added = updated = skipped = 0
        with self._locked():
            state = self._state()
            current = dict(state.labels)
            records = []
            for lab in sorted(incoming, key=lambda x: x.time):
                here = current.get(lab.label_id)
                if lab.label_id in state.deleted and here is None:
                    skipped += 1
                elif here is not None:
                    if here == lab or lab.time <= here.time:
                        skipped += 1
                    else:
                        records.append(lab.to_record("edit"))
                        current[lab.label_id] = lab
                        updated += 1
                elif any(lab.same_range(other) for other in current.values()):
                    skipped += 1
                else:
                    records.append(lab.to_record("add"))
                    current[lab.label_id] = lab
                    added += 1
            if records:
                self._write(records)
        return ImportReport(added, updated, skipped)

    def compact(self) -> None:
        """Rewrite the file as its current labels only (drops history), atomically, under the lock."""
        with self._locked():
            self.export_jsonl(self.path)
            self._cache = None


def _atomic_write(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:  # atomic_path fsyncs before the rename
        tmp.write_bytes(data)
    return path
