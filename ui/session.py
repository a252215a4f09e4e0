"""Per-browser-session state and files.

Each browser tab (and each ``gradio_client.Client``) has its own gradio session hash; the store maps it
to a ``Session`` holding that person's photo, trajectory and settings, their Annotate tab's bundle set
(``Annotation``) and their last evaluation (``EvaluationView``), and a private folder for their
exports and uploads. Nothing is shared between sessions, so two people never see each other's runs or files.

Why a store keyed by the session hash rather than a ``gr.State`` value: ``demo.unload`` receives only
the request, not the state, so only a store can act on it. Unload fires whenever a page's heartbeat
connection drops, which also happens on a network blip or a busy server, and the page then reconnects
with the same session; so an unloaded session is only *released*: it is deleted once it has stayed
unused for ``grace_s`` (an hour, like gradio's grace for closed sessions' state). Sessions idle for
longer than ``idle_ttl_s`` go too. Sweeps run when sessions are looked up (at most every
``SWEEP_EVERY_S``) and on unload, so abandoned sessions do not pile up; ``close_all`` at exit removes
the rest. Folders are deleted after the store's lock is released: every handler takes that lock, and
deleting a session's bundles can take a while.

One folder outlives sessions: ``labels_root`` holds the labels of uploaded bundle sets (see
``ui.bundle_set.upload_labels_path``), so that a person who reloads the page and uploads the same
bundles again finds their labels. It is ``$PIXELART_UPLOAD_LABELS`` when set (point it at persistent
storage to keep them across restarts), else a folder beside the sessions, kept while the app runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pixelart.evaluation import Evaluation
from pixelart.labels import LabelStore
from workbench.trajectory import Trajectory
from ui.bundle_set import BundleSet
from ui.charts import ChartCache
from ui.runner import RunRequest

IDLE_TTL_S = 6 * 3600.0  # a session nobody has used for this long is deleted
# A released (unloaded) session that is not used again within this is deleted. Gradio keeps a closed
# session's state for an hour too; a reconnected page is not reported, so only use marks it alive.
GRACE_S = 3600.0
SWEEP_EVERY_S = 30.0
UPLOAD_LABELS_ENV = "PIXELART_UPLOAD_LABELS"

# A session's run: none, waiting in the GPU queue, or going (a stop asked for is ``stop_requested``).
IDLE, QUEUED, RUNNING = "idle", "queued", "running"


@dataclass
class Annotation:
    """The Annotate tab's work: the bundle set, its label store, the bundle shown and a start marked."""

    bundles: BundleSet
    store: LabelStore
    annotator: str = ""  # the name the set was last resumed for
    index: int = 0
    fresh: bool = True  # the bundle at ``index`` is not shown yet (its photo and chart are still to send)
    step: int = 0  # the step shown
    pending_start: int | None = None  # "Mark start" was pressed here; the range is saved at "Mark end"
    chart_cache: ChartCache = field(default_factory=ChartCache)  # this tab's own (the Pixel Art tab has one)

    @property
    def trajectory(self) -> Trajectory:
        """The bundle shown (opened when the set was; frames are read lazily)."""
        return self.bundles.trajectories[self.index]

    @property
    def name(self) -> str:
        """The shown bundle's file name."""
        return self.trajectory.path.name

    def go_to(self, index: int) -> None:
        """Show another bundle of the set, from its first step, with no start marked."""
        self.index, self.fresh, self.pending_start = index, True, None
        self.chart_cache = ChartCache()


@dataclass
class EvaluationView:
    """The Evaluate tab's last result, the reference shown and the folder of its downloads."""

    result: Evaluation
    reference: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass
class RunState:
    """One run panel's state in a session (each tab with a run panel has its own): the trajectory
    shown, the run going or queued, and what the viewer shows of it."""

    trajectory: Trajectory | None = None
    bundle_copy: Path | None = None  # our copy of the opened bundle file (the trajectory reads it lazily)
    notes: list[str] = field(default_factory=list)
    run_state: str = IDLE  # IDLE, QUEUED (``pending`` waits for the GPU queue) or RUNNING
    pending: RunRequest | None = None  # what Run was pressed with, until the GPU queue reaches it
    stop_requested: bool = False
    follow: bool = True  # the viewer shows the newest step until the person scrubs
    selected: int = 0
    stop_params: dict[str, float | None] = field(default_factory=dict)  # strategy -> parameter on the chart
    chart_cache: ChartCache = field(default_factory=ChartCache)  # the chart of the trajectory shown

    @property
    def running(self) -> bool:
        """Whether a run of this session holds the GPU now."""
        return self.run_state == RUNNING

    @property
    def x_max(self) -> int | None:
        """While a run goes, the chart's step axis spans the whole run (its configured steps)."""
        if not self.running or self.trajectory is None:
            return None
        return self.trajectory.planned_steps

    def set_trajectory(
        self, trajectory: Trajectory | None, notes: list[str] | None = None, *, bundle_copy: Path | None = None,
    ) -> None:
        """Show another trajectory (a new run or a loaded bundle); the viewer starts at its newest step.
        The copy of a bundle opened before is deleted: nothing reads it any more."""
        old_copy, self.bundle_copy = self.bundle_copy, bundle_copy
        self.trajectory = trajectory
        self.notes = list(notes or [])
        self.follow = True
        self.selected = 0
        self.chart_cache = ChartCache()
        if old_copy is not None and old_copy != bundle_copy:
            old_copy.unlink(missing_ok=True)


@dataclass
class Session:
    """What one person has in the app: their inputs, each run panel's state and where their files go."""

    folder: Path
    photo: Image.Image | None = None  # the Pixel Art tab's photo
    photo_name: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)  # other tabs' uploaded inputs, by tab
    panels: dict[str, RunState] = field(default_factory=dict)  # run panels by their element-id prefix
    annotation: Annotation | None = None  # the Annotate tab's bundle set, once opened
    evaluation: EvaluationView | None = None  # the Evaluate tab's last result
    last_used: float = field(default_factory=time.monotonic)
    released: float | None = None  # when the page went away (None: in use)

    def panel(self, key: str) -> RunState:
        """The state of one run panel (created on first use)."""
        return self.panels.setdefault(key, RunState())

    @property
    def running(self) -> bool:
        """Whether any run of this session holds the GPU now."""
        return any(p.running for p in self.panels.values())

    def stop_all(self) -> None:
        """Ask every run of this session to stop (the page went away)."""
        for state in self.panels.values():
            if state.run_state != IDLE:
                state.stop_requested = True

    def subfolder(self, name: str) -> Path:
        """A folder inside this session's folder, created on first use."""
        path = self.folder / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class SessionStore:
    """Sessions by gradio session hash, each with its own folder under one root folder."""

    def __init__(
        self, root: Path | None = None, *, idle_ttl_s: float = IDLE_TTL_S, grace_s: float = GRACE_S,
        labels_root: Path | None = None,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="pixelart-app-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if labels_root is None and os.environ.get(UPLOAD_LABELS_ENV, "").strip():
            labels_root = Path(os.environ[UPLOAD_LABELS_ENV]).expanduser()
        # a session folder is a uuid hex name, so this never meets one
        self.labels_root = Path(labels_root) if labels_root is not None else self.root / "upload-labels"
        self.idle_ttl_s = idle_ttl_s
        self.grace_s = grace_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()
        atexit.register(self.close_all)

    def get(self, session_hash: str | None) -> Session:
        """The caller's session, created on first use."""
        key = session_hash or "anonymous"
        now = time.monotonic()
        stale: list[Session] = []
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                # The folder name is ours, not the client's hash: a hash never becomes a path.
                session = Session(folder=self.root / uuid.uuid4().hex)
                session.folder.mkdir(parents=True)
                self._sessions[key] = session
            session.last_used, session.released = now, None
            if now - self._last_sweep >= SWEEP_EVERY_S:
                stale = self._sweep(now)
        _discard_all(stale)
        return session

    def release(self, session_hash: str | None) -> None:
        """The page went away (``demo.unload``): delete the session unless it comes back in time."""
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_hash or "anonymous")
            if session is not None:
                session.released = now
                # Gradio cancels a gone page's events too; stopping frees the GPU queue at once.
                session.stop_all()
            stale = self._sweep(now)
        _discard_all(stale)

    def close(self, session_hash: str | None) -> None:
        """Forget a session and delete its files now; a run still going sees the stop request and ends."""
        with self._lock:
            session = self._sessions.pop(session_hash or "anonymous", None)
        if session is not None:
            _discard(session)

    def sweep(self) -> None:
        """Delete released sessions past their grace and sessions idle past the TTL."""
        with self._lock:
            stale = self._sweep(time.monotonic())
        _discard_all(stale)

    def close_all(self) -> None:
        """Delete every session (server shutdown)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        _discard_all(sessions)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._sessions)

    def _sweep(self, now: float) -> list[Session]:
        """Forget the stale sessions (under the lock); the caller deletes them after releasing it."""
        self._last_sweep = now
        stale = [
            key for key, s in self._sessions.items()
            if (s.released is not None and now - s.released >= self.grace_s)
            or (not s.running and now - s.last_used >= self.idle_ttl_s)
        ]
        return [self._sessions.pop(key) for key in stale]


def _discard_all(sessions: list[Session]) -> None:
    for session in sessions:
        _discard(session)


def _discard(session: Session) -> None:
    session.stop_all()
    for state in session.panels.values():
        state.stop_requested = True
        state.trajectory = None
    session.photo = None
    session.inputs.clear()
    session.annotation = None
    session.evaluation = None
    shutil.rmtree(session.folder, ignore_errors=True)
