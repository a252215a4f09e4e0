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
the rest.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pixelart.config import RunConfig
from pixelart.evaluation import Evaluation
from pixelart.labels import LabelStore
from pixelart.trajectory import Trajectory
from ui.bundle_set import BundleEntry, BundleSet

IDLE_TTL_S = 6 * 3600.0  # a session nobody has used for this long is deleted
# A released (unloaded) session that is not used again within this is deleted. Gradio keeps a closed
# session's state for an hour too; a reconnected page is not reported, so only use marks it alive.
GRACE_S = 3600.0
SWEEP_EVERY_S = 30.0


@dataclass
class Annotation:
    """The Annotate tab's work: the bundle set, its label store, the bundle shown and a start marked."""

    bundles: BundleSet
    store: LabelStore
    annotator: str = ""  # the name the set was last resumed for
    index: int = 0
    trajectory: Trajectory | None = None  # the bundle at ``index``, opened
    step: int = 0  # the step shown
    pending_start: int | None = None  # "Mark start" was pressed here; the range is saved at "Mark end"
    chart_cache: Any = None  # ui.viewer.ChartCache of this tab (the Pixel Art tab has its own)

    @property
    def entry(self) -> BundleEntry:
        """The bundle shown."""
        return self.bundles.entries[self.index]


@dataclass
class EvaluationView:
    """The Evaluate tab's last result, the reference shown and the folder of its downloads."""

    result: Evaluation
    reference: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass
class Session:
    """What one person has in the app: their photo, their run and where their files go."""

    folder: Path
    photo: Image.Image | None = None
    photo_name: str = ""
    trajectory: Trajectory | None = None
    notes: list[str] = field(default_factory=list)
    pending: RunConfig | None = None  # the config Run validated, waiting for the GPU queue
    running: bool = False
    stop_requested: bool = False
    follow: bool = True  # the viewer shows the newest step until the person scrubs
    selected: int = 0
    x_max: int | None = None  # the chart's step axis spans the whole run while it goes
    stop_params: dict[str, float | None] = field(default_factory=dict)  # strategy -> parameter on the chart
    chart_cache: Any = None  # ui.viewer keeps the last built chart here
    annotation: Annotation | None = None  # the Annotate tab's bundle set, once opened
    evaluation: EvaluationView | None = None  # the Evaluate tab's last result
    last_used: float = field(default_factory=time.monotonic)
    released: float | None = None  # when the page went away (None: in use)
    closed: bool = False

    def subfolder(self, name: str) -> Path:
        """A folder inside this session's folder, created on first use."""
        path = self.folder / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def set_trajectory(self, trajectory: Trajectory | None, notes: list[str] | None = None) -> None:
        """Show another trajectory (a new run or a loaded bundle); the viewer starts at its newest step."""
        self.trajectory = trajectory
        self.notes = list(notes or [])
        self.follow = True
        self.selected = 0
        self.x_max = None
        self.chart_cache = None


class SessionStore:
    """Sessions by gradio session hash, each with its own folder under one root folder."""

    def __init__(
        self, root: Path | None = None, *, idle_ttl_s: float = IDLE_TTL_S, grace_s: float = GRACE_S
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="pixelart-app-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
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
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                # The folder name is ours, not the client's hash: a hash never becomes a path.
                session = Session(folder=self.root / uuid.uuid4().hex)
                session.folder.mkdir(parents=True)
                self._sessions[key] = session
            session.last_used, session.released = now, None
            if now - self._last_sweep >= SWEEP_EVERY_S:
                self._sweep(now)
            return session

    def release(self, session_hash: str | None) -> None:
        """The page went away (``demo.unload``): delete the session unless it comes back in time."""
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_hash or "anonymous")
            if session is not None:
                session.released = now
                # Gradio cancels a gone page's events too; stopping frees the GPU queue at once.
                if session.running:
                    session.stop_requested = True
            self._sweep(now)

    def close(self, session_hash: str | None) -> None:
        """Forget a session and delete its files now; a run still going sees the stop request and ends."""
        with self._lock:
            session = self._sessions.pop(session_hash or "anonymous", None)
        if session is not None:
            _discard(session)

    def sweep(self) -> None:
        """Delete released sessions past their grace and sessions idle past the TTL."""
        with self._lock:
            self._sweep(time.monotonic())

    def close_all(self) -> None:
        """Delete every session (server shutdown)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            _discard(session)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._sessions)

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        stale = [
            key for key, s in self._sessions.items()
            if (s.released is not None and now - s.released >= self.grace_s)
            or (not s.running and now - s.last_used >= self.idle_ttl_s)
        ]
        for key in stale:
            _discard(self._sessions.pop(key))


def _discard(session: Session) -> None:
    session.closed = True
    session.stop_requested = True
    session.trajectory = None
    session.photo = None
    session.annotation = None
    session.evaluation = None
    shutil.rmtree(session.folder, ignore_errors=True)
