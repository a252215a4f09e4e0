"""Texture-word collections on disk: ``COLLECTION_DIR/WORD/*.jpg`` (a folder of images per word, which
the user fills, since machines here cannot search the web as the seed did with the Bing API).

Image paths are handled relative to the collection folder (``WORD/name.jpg``); a word is the first
folder of that path. Hidden files and folders (the index cache lives in ``.stylize_cache``) are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def check_collection(root: str | os.PathLike) -> Path:
    """The collection folder, or a one-line ConfigError."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"collection folder {path} does not exist or is not a folder")
    return path


def list_images(root: str | os.PathLike, word: str | None = None) -> list[str]:
    """Relative paths (POSIX, sorted) of the images under ``root`` (or under ``root/word``)."""
    root = check_collection(root)
    base = root / word if word else root
    if word and not base.is_dir():
        words = list_words(root)
        raise ConfigError(f"no folder for the word '{word}' in {root}; words here: {', '.join(words) or 'none'}")
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def list_words(root: str | os.PathLike) -> list[str]:
    """The word folders of a collection (sub-folders holding at least one image)."""
    root = check_collection(root)
    words = {p.split("/", 1)[0] for p in list_images(root) if "/" in p}
    return sorted(words)


def word_of(relpath: str) -> str:
    """The word an image belongs to (its first folder; '' for images at the top level)."""
    return relpath.split("/", 1)[0] if "/" in relpath else ""
