"""An on-disk index of a collection's style vectors, so that a folder of thousands of images is
read once and re-read only for new or changed files.

Layout, under ``COLLECTION_DIR/.stylize_cache/<signature>/`` (the signature names the model, layer,
input size and ReLU choice, so different settings never mix):

- ``index.json``: ``{relative path: {"size", "mtime_ns", "shard"}}`` plus the settings
- one ``<sha1 of the path>.npy`` per image: its vector as float16 (131,328 values: 256 KB at conv5_1)
- with ``content=True``, also ``<sha1>.fc6.npy``: its DCNN content vector (fc6, ``stylize.content_vector``)
  as float16, named in the entry under ``"fc6_shard"``

The signature covers everything both vectors depend on (model, input size, ReLU choice; the layer
only concerns the style part), and each entry says what it stores: an entry without ``fc6_shard`` (every
entry of an index written before content features existed) holds no content vector, so an index asked
for content recomputes it, and a style-only index keeps reading the old entries as they are.

A file is stale when it is not in the index, or its size or modification time differ, or a shard it
needs is missing. A file recomputed without content drops its old content vector, which no longer
matches the file. Every write is atomic and the index is rewritten after each batch, so an interrupted
indexing keeps what it finished. Unreadable images are reported and skipped, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from stylize.collection import check_collection, list_images
from stylize.content_vector import CONTENT_FEATURE
from stylize.style_vector import DEFAULT_LAYER, DEFAULT_SIZE
from workbench.atomic import atomic_path
from workbench.errors import ConfigError, ImageInputError

INDEX_VERSION = 1
CACHE_DIR_NAME = ".stylize_cache"
CONTENT_SHARD = "fc6_shard"  # a new content definition would get a new key, so old shards are never misread


@dataclass
class IndexReport:
    """What one ``update`` did."""

    computed: list[str] = field(default_factory=list)  # paths whose vector was (re)computed
    reused: int = 0
    removed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # path -> one-line reason

    def summary(self) -> str:
        """One line for the CLI."""
        text = f"{len(self.computed)} computed, {self.reused} reused, {self.removed} removed"
        return text + (f", {len(self.failed)} unreadable (skipped)" if self.failed else "")


def _signature(model: str, layer: str, size: int, after_relu: bool) -> str:
    label = model if re.fullmatch(r"[\w.-]+", model) else "m" + hashlib.sha1(model.encode()).hexdigest()[:10]
    return f"{label}-{layer}-{size}-{'relu' if after_relu else 'conv'}-v{INDEX_VERSION}"


class StyleIndex:
    """Style vectors (and with ``content``, fc6 content vectors) of the images under ``root`` for one
    (model, layer, size, after_relu) setting."""

    def __init__(self, root: str | os.PathLike, *, model: str = "vgg19", layer: str = DEFAULT_LAYER,
                 size: int = DEFAULT_SIZE, after_relu: bool = True, cache_dir: str | os.PathLike | None = None,
                 content: bool = False) -> None:
        from stylize.nst.layers import check_layer
        from stylize.nst.models import model_spec

        self.root = check_collection(root)
        check_layer(layer, "style-vector layer")
        model_spec(model)
        if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 1024:
            raise ConfigError(f"style-vector size must be a whole number between 32 and 1024, got {size!r}")
        self.model, self.layer, self.size, self.after_relu = model, layer, size, after_relu
        self.content = bool(content)
        base = Path(cache_dir).expanduser() if cache_dir else self.root / CACHE_DIR_NAME
        self.dir = base / _signature(model, layer, size, after_relu)
        self.entries: dict[str, dict] = self._read()

    # -- the index file ---------------------------------------------------------------------------
    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads((self.dir / "index.json").read_text())
            return dict(data["entries"]) if data.get("version") == INDEX_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # no or damaged index: everything is recomputed

    def _write(self) -> None:
        data = {"version": INDEX_VERSION, "model": self.model, "layer": self.layer, "size": self.size,
                "after_relu": self.after_relu, "content_feature": CONTENT_FEATURE, "entries": self.entries}
        with atomic_path(self.dir / "index.json") as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=0))

    @staticmethod
    def _shard_name(relpath: str) -> str:
        return hashlib.sha1(relpath.encode("utf-8")).hexdigest() + ".npy"

    def _stat(self, relpath: str) -> tuple[int, int]:
        st = (self.root / relpath).stat()
        return st.st_size, st.st_mtime_ns

    def stale(self, paths: Iterable[str]) -> list[str]:
        """The paths whose vector must be (re)computed."""
        out = []
        for rel in paths:
            entry = self.entries.get(rel)
            size, mtime = self._stat(rel)
            if (entry is None or entry.get("size") != size or entry.get("mtime_ns") != mtime
                    or not (self.dir / entry.get("shard", "")).is_file()
                    or (self.content and not (self.dir / (entry.get(CONTENT_SHARD) or "")).is_file())):
                out.append(rel)
        return out

    # -- updating -------------------------------------------------------------------------------
    def update(self, paths: list[str] | None = None, *, vgg=None, loader: Callable[[], object] | None = None,
               batch_size: int = 16, progress: bool = False, device: str = "auto") -> IndexReport:
        """Bring the index up to date for ``paths`` (default: every image of the collection).

        The network is loaded (``vgg``, else ``loader()``, else ``load_vgg(model)``) only when some
        file is stale. Entries of files that no longer exist are dropped.
        """
        from workbench.images import load_photo

        all_paths = list_images(self.root)
        paths = all_paths if paths is None else list(paths)
        report = IndexReport()
        gone = [p for p in self.entries if p not in set(all_paths)]
        for rel in gone:
            entry = self.entries.pop(rel)
            for key in ("shard", CONTENT_SHARD):
                if entry.get(key):
                    (self.dir / entry[key]).unlink(missing_ok=True)
        report.removed = len(gone)
        todo = self.stale(paths)
        report.reused = len(paths) - len(todo)
        if not todo:
            if gone:
                self._write()
            return report
        if vgg is None:
            if loader is not None:
                vgg = loader()
            else:
                from stylize.nst.loading import load_vgg, pick_device

                vgg = load_vgg(self.model, device=pick_device(device), fc6=self.content)
        from stylize.style_vector import check_has_fc6, image_vectors

        if self.content:
            check_has_fc6(vgg)

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="img", desc="style vectors")
        self.dir.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(todo), batch_size):
            chunk, images, stats = [], [], []
            for rel in todo[start:start + batch_size]:
                try:
                    stat, image = self._stat(rel), load_photo(self.root / rel)
                except (ImageInputError, OSError) as exc:
                    report.failed[rel] = (str(exc).splitlines() or [type(exc).__name__])[0]
                    continue
                chunk.append(rel)
                stats.append(stat)
                images.append(image)
            if chunk:
                vectors, contents = image_vectors(images, vgg, layer=self.layer, size=self.size,
                                                  after_relu=self.after_relu, batch_size=batch_size,
                                                  content=self.content)
                for i, (rel, (size, mtime), vector) in enumerate(zip(chunk, stats, vectors)):
                    shard = self._shard_name(rel)
                    entry = {"size": size, "mtime_ns": mtime, "shard": shard}
                    _save(self.dir / shard, vector)
                    if contents is not None:
                        entry[CONTENT_SHARD] = shard[:-len(".npy")] + ".fc6.npy"
                        _save(self.dir / entry[CONTENT_SHARD], contents[i])
                    else:  # the file changed: an old content vector no longer describes it
                        (self.dir / (shard[:-len(".npy")] + ".fc6.npy")).unlink(missing_ok=True)
                    self.entries[rel] = entry
                    report.computed.append(rel)
                self._write()
            if bar is not None:
                bar.update(len(todo[start:start + batch_size]))
        if bar is not None:
            bar.close()
        if gone and not report.computed:
            self._write()
        return report

    # -- reading --------------------------------------------------------------------------------
    def vectors(self, paths: list[str]) -> np.ndarray:
        """(N, D) float32 vectors of indexed ``paths`` (``update`` them first)."""
        missing = [p for p in paths if p not in self.entries]
        if missing:
            raise ConfigError(f"{len(missing)} image(s) are not indexed yet (e.g. {missing[0]}); run `python -m stylize index`")
        return np.stack([np.load(self.dir / self.entries[p]["shard"]).astype(np.float32) for p in paths]) \
            if paths else np.zeros((0, 0), np.float32)

    def content_vectors(self, paths: list[str]) -> np.ndarray:
        """(N, D) float32 fc6 content vectors of ``paths`` (``update`` an index made with ``content=True``)."""
        missing = [p for p in paths if not (self.entries.get(p) or {}).get(CONTENT_SHARD)]
        if missing:
            raise ConfigError(f"{len(missing)} image(s) have no content features yet (e.g. {missing[0]}); "
                              "run `python -m stylize index --content-features`")
        return np.stack([np.load(self.dir / self.entries[p][CONTENT_SHARD]).astype(np.float32) for p in paths]) \
            if paths else np.zeros((0, 0), np.float32)


def _save(path: Path, vector: np.ndarray) -> None:
    """One vector as float16 .npy, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(vector).astype(np.float16))
