"""A set of trajectory bundles as the Annotate and Evaluate tabs open it: a folder's ``*.bundle`` files,
each checked on opening, unreadable ones listed with the reason and skipped (never fatal), and the
labels file that goes with the set.

Where bundles come from: a folder on the server (local use, e.g. what ``python -m pixelart batch``
wrote; its labels file is ``labels.jsonl`` inside it, shared by everyone who labels that folder) or
``.bundle`` files uploaded into the session's own folder (Spaces; the labels file sits in the
session folder and goes with it, so it is to be exported). On a public Space (``SPACE_ID`` set)
server folders are off unless ``PIXELART_SERVER_FOLDERS=1``: a visitor must not browse the host's
disk or write labels into it. ``PIXELART_SERVER_FOLDERS=0`` turns them off anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pixelart.errors import BundleError, ConfigError
from pixelart.labels import bundle_id_of
from pixelart.trajectory import Trajectory
from ui.feedback import describe

LABELS_NAME = "labels.jsonl"
SERVER_FOLDERS_ENV = "PIXELART_SERVER_FOLDERS"


@dataclass(frozen=True)
class BundleEntry:
    """One readable bundle of a set: where it is, the id its labels use, its steps."""

    path: Path
    bundle_id: str
    steps: int

    @property
    def name(self) -> str:
        return self.path.name

    def load(self) -> Trajectory:
        """The bundle opened (frames are read lazily)."""
        return Trajectory.load(self.path)


@dataclass
class BundleSet:
    """The readable bundles of a folder, in file-name order, and the ones skipped with why."""

    folder: Path
    entries: list[BundleEntry]
    unreadable: list[str] = field(default_factory=list)  # "name: why"
    uploaded: bool = False  # the folder is the session's upload folder

    def __len__(self) -> int:
        return len(self.entries)


def server_folders_allowed() -> bool:
    """Whether people may open folders on the server (see the module doc)."""
    setting = os.environ.get(SERVER_FOLDERS_ENV, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    return not os.environ.get("SPACE_ID")


def server_path(text: str | os.PathLike, own: Path, what: str = "folder") -> Path:
    """A path typed by the person, if they may use it: anywhere when server folders are allowed,
    else only inside their session's own folder ``own``."""
    raw = str(text or "").strip()
    if not raw:
        raise ConfigError(f"type a {what} path on the server")
    path = Path(raw).expanduser().resolve()
    if not server_folders_allowed() and not path.is_relative_to(own.resolve()):
        raise ConfigError(f"opening a {what} on the server is turned off here (a public Space): "
                          "upload .bundle files instead")
    return path


def scan_folder(folder: Path, *, uploaded: bool = False) -> BundleSet:
    """Open every ``*.bundle`` in ``folder``; damaged ones and copies of the same run are listed, not fatal."""
    if not folder.is_dir():
        raise ConfigError(f"folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    paths = sorted(folder.glob("*.bundle"))
    if not paths:
        raise ConfigError(f"no .bundle files in {folder}")
    entries, unreadable, seen = [], [], {}
    for path in paths:
        try:
            trajectory = Trajectory.load(path)
            if not len(trajectory):
                raise BundleError(f"{path.name} holds no steps")
            bundle_id = bundle_id_of(trajectory)
        except Exception as exc:  # one bad file never stops the set from opening
            why = describe(exc, f"opening {path.name}")
            unreadable.append(why if why.startswith(path.name) else f"{path.name}: {why}")
            continue
        if bundle_id in seen:  # labels are kept by run id: two files of one run would share them
            unreadable.append(f"{path.name}: the same run as {seen[bundle_id]}, skipped")
            continue
        seen[bundle_id] = path.name
        entries.append(BundleEntry(path, bundle_id, len(trajectory)))
    return BundleSet(folder, entries, unreadable, uploaded)


def copy_uploads(paths: Iterable[str], folder: Path) -> list[str]:
    """Copy uploaded ``.bundle`` files into ``folder`` (gradio's upload cache is cleaned on its own);
    returns a "name: why" line for each file that is not a bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    refused = []
    for path in paths:
        source = Path(path)
        if source.suffix.lower() != ".bundle":
            refused.append(f"{source.name}: not a .bundle file, skipped")
            continue
        # our own file name: only safe characters, whatever the browser sent
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.stem).strip("._") or "bundle"
        shutil.copyfile(source, folder / f"{stem[:80]}.bundle")
    return refused


def labels_path(folder: Path, text: str | None, own: Path) -> Path:
    """The labels file of a set: blank = ``labels.jsonl`` in the bundle folder; a relative path is
    taken inside the bundle folder."""
    raw = str(text or "").strip()
    if not raw:
        return folder / LABELS_NAME
    path = Path(raw).expanduser()
    return server_path(path if path.is_absolute() else folder / path, own, "labels file")
