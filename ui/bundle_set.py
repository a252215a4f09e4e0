"""A set of trajectory bundles as the Annotate and Evaluate tabs open it: a folder's ``*.bundle`` files,
opened by the engine's ``scan_bundles`` (damaged or empty ones, and a second file of the same run,
are listed with the reason and skipped, never fatal), and the labels file that goes with the set.

Where bundles come from: a folder on the server (local use, e.g. what ``python -m pixelart batch``
wrote; its labels file is ``labels.jsonl`` inside it, shared by everyone who labels that folder) or
``.bundle`` files uploaded into the session's own folder. The labels of an uploaded set are kept
under the app's labels folder, in a file named after the set's run ids (``upload_labels_path``):
they outlive the session, so after a page reload the same bundles uploaded again find them.

Server folders: a visitor must not browse the host's disk or write labels into it, so typing server
paths is allowed only when the app serves this machine alone (bound to a loopback address and not
shared with ``--share``) and no ``SPACE_ID`` says it is a Space; ``PIXELART_SERVER_FOLDERS=1`` or
``=0`` decides instead (``server_folders_default``). The app decides once, at launch.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from workbench.atomic import copy_as_new
from workbench.errors import ConfigError, UserError
from workbench.export import safe_stem
from workbench.trajectory import Trajectory, scan_bundles

LABELS_NAME = "labels.jsonl"
SERVER_FOLDERS_ENV = "PIXELART_SERVER_FOLDERS"


@dataclass
class BundleSet:
    """The usable bundles of a folder (opened, in file-name order) and a "name: why" line for each one
    skipped."""

    folder: Path
    trajectories: list[Trajectory]
    skipped: list[str] = field(default_factory=list)
    uploaded: bool = False  # the folder is the session's upload folder

    def __len__(self) -> int:
        return len(self.trajectories)

    @property
    def run_ids(self) -> list[str]:
        """The run ids of the set (what labels refer to), in the set's order."""
        return [t.run_id for t in self.trajectories]


def server_folders_default(host: str | None, share: bool = False) -> bool:
    """Whether visitors may type server paths, for an app bound to ``host`` (None: not known, so no) and
    shared or not (see the module doc)."""
    setting = os.environ.get(SERVER_FOLDERS_ENV, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    if share or host is None or os.environ.get("SPACE_ID"):
        return False
    return is_loopback(host)


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost: an address only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def server_path(text: str | os.PathLike, allowed: bool, own: Sequence[Path], what: str = "folder") -> Path:
    """A path typed by the person, if they may use it: anywhere when server folders are ``allowed``,
    else only inside the paths of ``own`` (their session's folder and the set they opened)."""
    raw = str(text or "").strip()
    if not raw:
        raise ConfigError(f"type a {what} path on the server")
    path = Path(raw).expanduser().resolve()
    if not allowed and not any(path.is_relative_to(Path(p).resolve()) for p in own):
        raise ConfigError(f"opening a {what} on the server is turned off here: upload .bundle files instead")
    return path


def open_set(folder: Path, *, uploaded: bool = False) -> BundleSet:
    """Every usable bundle of ``folder`` (the engine's lenient scan; damaged ones are listed, not fatal)."""
    try:
        scan = scan_bundles(folder)
    except UserError as exc:  # the folder itself: missing, not a folder, no bundles in it
        raise ConfigError(str(exc)) from None
    return BundleSet(scan.folder, scan.trajectories, scan.skipped, uploaded)


def copy_uploads(paths: Iterable[str], folder: Path) -> list[str]:
    """Copy uploaded ``.bundle`` files into ``folder`` (gradio's upload cache is cleaned on its own);
    returns a "name: why" line for each file that is not a bundle.

    Each copy gets a name of its own (a file uploaded again under the same name never overwrites one
    that is open) and appears whole or not at all (written to a temporary file, then renamed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    refused = []
    for path in paths:
        source = Path(path)
        if source.suffix.lower() != ".bundle":
            refused.append(f"{source.name}: not a .bundle file, skipped")
            continue
        copy_as_new(source, folder, safe_stem(source.stem, "bundle"), ".bundle")  # our own name, whatever was sent
    return refused


def labels_path(folder: Path, text: str | None, allowed: bool, own: Sequence[Path]) -> Path:
    """The labels file of a set: blank = ``labels.jsonl`` in the bundle folder; a relative path is
    taken inside the bundle folder."""
    raw = str(text or "").strip()
    if not raw:
        return folder / LABELS_NAME
    path = Path(raw).expanduser()
    return server_path(path if path.is_absolute() else folder / path, allowed, own, "labels file")


def upload_labels_path(labels_root: Path, run_ids: Iterable[str]) -> Path:
    """Where the labels of an uploaded set live: a file under the app's labels folder named after the
    set's run ids, so the same bundles uploaded again (after a reload, in another session) find it."""
    key = hashlib.sha256("\n".join(sorted(set(run_ids))).encode("utf-8")).hexdigest()[:20]
    return Path(labels_root) / f"uploaded-{key}.jsonl"
