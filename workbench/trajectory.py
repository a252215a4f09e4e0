"""A recorded run (trajectory) and its one-file bundle, for every back end.

A trajectory holds the run's input image, one float series per metric (a value per step, NaN where
not computed), the frames of its recorded steps, the curves the run declared and its config. In
memory it grows while a run goes; ``save`` writes it as a bundle and ``Trajectory.load`` opens a
bundle without any model or GPU.

Two frame codecs (``workbench.codecs``): palette indices (pixel art: key frames + XOR deltas, random
access) and RGB images (PNG, lossless, each frame on its own). A run may record frames every k-th step
only (``record_every``); ``frame(step)`` then shows the newest recorded frame at or before ``step`` and
``recorded_step`` says which one.

Bundle layout (a zip file, inspectable with any unzip tool):

- ``manifest.json``: format, version, kind, codec, frame size, palette, curves, config, series names
- ``input.png``: the input image at the metric working resolution
- ``series.npz``: one float64 array per metric, NaN where a value was not computed
- ``frames.bin`` (stored, not deflated) + ``frames.idx.npy`` (byte offsets) + ``frames.steps.npy``
  (the step of each stored frame; absent in version 1, where every step has a frame)
- ``extras.npz`` (optional): extra arrays such as part masks
- ``side.npz`` (optional): side images of some steps (e.g. SMS's map R): per key ``KEY`` a stack
  (n, h, w, 3) uint8 and ``KEY.steps`` (n,) the steps they belong to; ``manifest.side_labels`` labels them.
  Readers that predate it ignore it; bundles without it open with no side images.

Version 1 bundles (pixel art, format ``pixelart-trajectory``) open unchanged.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import re
import struct
import threading
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from workbench.atomic import atomic_path
from workbench.drift import standard_curves
from workbench.codecs import KEYFRAME_EVERY, DamagedFrame, FrameCodec, PaletteCodec, PngCodec, codec_for
from workbench.errors import BundleError
from workbench.records import Curve, RunStart
from workbench.untrusted import NotAZip, Refused, load_npy, load_npz, load_rgb_image, loads_json, open_zip, read_member
from workbench.palette import indices_to_rgb, parse_hex, to_hex

FORMAT = "workbench-trajectory"
VERSION = 2
FORMATS = {"pixelart-trajectory": 1, FORMAT: VERSION}  # format name -> newest version it was written in


class _GrowingSeries:
    """A float64 array that grows by doubling; ``view`` is the filled prefix."""

    def __init__(self, values: np.ndarray | None = None) -> None:
        values = np.asarray(values if values is not None else [], dtype=np.float64)
        self._data = np.full(max(16, len(values)), np.nan)  # an opened bundle's series never grow
        self._data[: len(values)] = values
        self._n = len(values)

    def extend_to(self, n: int) -> None:
        if n > len(self._data):
            grown = np.full(max(n, 2 * len(self._data)), np.nan)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._n = max(self._n, n)

    def set(self, index: int, value: float) -> None:
        self.extend_to(index + 1)
        self._data[index] = value

    def view(self, n: int) -> np.ndarray:
        return self._data[:n]


class Trajectory:
    """Frames, metric series, input, curves and config of one run (in memory or backed by a bundle).

    ``palette`` given: frames are palette indices (H, W) uint8; None: RGB frames (H, W, 3) uint8.
    """

    def __init__(
        self,
        *,
        input_image: np.ndarray,
        frame_size: tuple[int, int],
        palette: np.ndarray | None = None,
        config: Mapping[str, Any] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        curves: Sequence[Curve] = (),
        kind: str = "pixelart",
        record_every: int = 1,
        frame_label: str = "Result",
    ) -> None:
        if palette is not None:
            self.palette: np.ndarray | None = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
            if len(self.palette) > 256:
                raise BundleError(f"a palette of {len(self.palette)} colours does not fit uint8 frames")
            self.codec: FrameCodec = PaletteCodec()
        else:
            self.palette = None
            self.codec = PngCodec()
        self.input_image = np.asarray(input_image, dtype=np.uint8)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.config: dict[str, Any] = dict(config or {})
        self.extras: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in (extras or {}).items()}
        self.curves: tuple[Curve, ...] = tuple(curves)
        self.kind = kind
        self.record_every = max(1, int(record_every))
        self.frame_label = frame_label
        self._steps = 0  # steps recorded (series length)
        self._frame_steps: list[int] = []  # the step of each stored frame, ascending
        self._blobs: list[bytes] = []
        self._series: dict[str, _GrowingSeries] = {}
        self._last_frame: np.ndarray | None = None  # the previous stored frame, which deltas refer to
        self._cache: tuple[int, np.ndarray] | None = None  # last decoded (frame index, frame)
        self._read_lock = threading.Lock()
        self._source: _BundleFrames | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None  # set when opened from (or saved to) a bundle file
        # side images (e.g. SMS's map R) of some steps, shown beside the frame; ``side.npz`` in bundles
        self.side_labels: dict[str, str] = {}
        self._side_steps: list[int] = []
        self._side: list[dict[str, np.ndarray]] = []

    @classmethod
    def from_start(cls, start: RunStart) -> "Trajectory":
        """An empty trajectory for the run that yielded ``start``. Every run gets a run id (what labels
        refer to, so renaming a bundle keeps its labels), its creation time and its planned steps."""
        config = {"run_id": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "total_steps": start.total, **start.config}
        traj = cls(input_image=start.input_image, frame_size=start.frame_size, palette=start.palette,
                   config=config, extras=start.extras, curves=start.curves, kind=start.kind,
                   record_every=start.record_every, frame_label=start.frame_label)
        traj.side_labels = dict(start.side_labels)
        return traj

    # -- size and frames --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._steps

    @property
    def num_frames(self) -> int:
        """How many steps are recorded (step 0 is the initialisation)."""
        return len(self)

    @property
    def frame_steps(self) -> list[int]:
        """The steps that have a stored frame, ascending."""
        with self._lock:
            return list(self._frame_steps)

    def append(self, frame: np.ndarray | None, metrics: Mapping[str, float] | None = None) -> int:
        """Record the next step's frame (None: this step keeps metrics only) and metric values;
        returns the step index.

        The step becomes visible to readers (``len``, ``frame``, ``series``) with its metrics already
        set, so a reader in another thread never sees a recorded step without its values.
        """
        if self._source is not None:
            raise BundleError("a trajectory opened from a bundle is read-only")
        if frame is not None:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if frame.shape != self.codec.shape(self.frame_size):
                raise ValueError(f"frame shape {frame.shape} != trajectory frame shape {self.codec.shape(self.frame_size)}")
        with self._lock:
            index = self._steps
            if index == 0 and frame is None:
                raise ValueError("step 0 must have a frame")
            if frame is not None:
                self._blobs.append(self.codec.encode(len(self._blobs), frame, self._last_frame))
                self._frame_steps.append(index)
                self._last_frame = frame.copy()
            for name, value in (metrics or {}).items():
                self._series.setdefault(name, _GrowingSeries()).set(index, float(value))
            self._steps = index + 1
        return index

    def add_side_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """Keep a recorded step's side images, key -> (h, w, 3) uint8 (one size per key); steps ascend.

        They are kept for the steps that have a frame, and for the newest step (shown live) until the
        next one comes: memory grows with the frames, as the frames' own. Giving the newest step again
        replaces its images."""
        if not images:
            return
        kept = {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in images.items()}
        with self._lock:
            if self._side_steps and (self._side_steps[-1] == step or not self._has_frame(self._side_steps[-1])):
                self._side_steps.pop()  # the same step again, or the previous newest, which has no frame
                self._side.pop()
            if self._side_steps and step <= self._side_steps[-1]:
                raise ValueError(f"side images of step {step} after those of step {self._side_steps[-1]}")
            for key, image in kept.items():
                first = next((d[key] for d in self._side if key in d), None)
                if not _SIDE_KEY.match(key) or image.ndim != 3 or image.shape[2] != 3:
                    raise ValueError(f"side image '{key}' must have a word key and shape (h, w, 3), got {image.shape}")
                if first is not None and first.shape != image.shape:
                    raise ValueError(f"side image '{key}' changed shape from {first.shape} to {image.shape}")
            self._side_steps.append(int(step))
            self._side.append(kept)

    def _has_frame(self, step: int) -> bool:
        i = bisect.bisect_left(self._frame_steps, step)
        return i < len(self._frame_steps) and self._frame_steps[i] == step

    def side_images(self, step: int) -> dict[str, np.ndarray]:
        """The side images shown at ``step``: the newest kept at or before it ({} when none)."""
        with self._lock:
            i = bisect.bisect_right(self._side_steps, step) - 1
            return dict(self._side[i]) if i >= 0 else {}

    def _frame_index(self, step: int) -> int:
        """Which stored frame is shown at ``step`` (negative steps count from the end)."""
        n = len(self)
        if step < 0:
            step += n
        if not 0 <= step < n:
            raise IndexError(f"step {step} is not recorded (0..{n - 1})")
        with self._lock:
            return bisect.bisect_right(self._frame_steps, step) - 1

    def recorded_step(self, step: int) -> int:
        """The newest step at or before ``step`` that has a stored frame."""
        index = self._frame_index(step)
        with self._lock:
            return self._frame_steps[index]

    def frame(self, step: int) -> np.ndarray:
        """The stored frame shown at ``step``: palette indices (H, W) or RGB (H, W, 3), uint8."""
        index = self._frame_index(step)
        with self._read_lock:
            every = self.codec.keyframe_every
            start, frame = index - index % every, None
            cached = self._cache
            if cached is not None and start <= cached[0] <= index:
                start, frame = cached[0] + 1, cached[1]
                if start > index:
                    return frame.copy()
            try:
                frame = self.codec.decode(self._blobs_in(start, index + 1), frame, self.frame_size)
            except DamagedFrame as exc:
                name = self.path.name if self.path is not None else "trajectory"
                bad = start + exc.position
                raise BundleError(f"{name}: frame {bad} is damaged; the file may be truncated or corrupt") from None
            self._cache = (index, frame)
        return frame.copy()

    def rgb(self, step: int) -> np.ndarray:
        """One step's image as (H, W, 3) uint8 (palette frames in palette colours)."""
        frame = self.frame(step)
        return indices_to_rgb(frame, self.palette) if self.palette is not None else frame

    def frames(self, indices: Iterable[int]) -> np.ndarray:
        """Several frames stacked (N, H, W) or (N, H, W, 3)."""
        return np.stack([self.frame(i) for i in indices])

    def _blobs_in(self, start: int, stop: int) -> list[bytes]:
        return self._source.blobs(start, stop) if self._source is not None else self._blobs[start:stop]

    # -- metric series ----------------------------------------------------------------------------
    def set_metric(self, name: str, index: int, value: float) -> None:
        """Set one metric value at one step (used to fill in values computed later in a batch)."""
        with self._lock:
            self._series.setdefault(name, _GrowingSeries()).set(index, float(value))

    def series(self, name: str) -> np.ndarray:
        """A copy of the metric's values for steps 0..N-1 (NaN where not computed)."""
        with self._lock:
            return self._series_copy(name, len(self))

    def _series_copy(self, name: str, n: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if name in self._series:
            values = self._series[name].view(n)
            out[: len(values)] = values
        return out

    @property
    def series_names(self) -> list[str]:
        """Names of the recorded metrics."""
        with self._lock:
            return list(self._series)

    def series_map(self) -> dict[str, np.ndarray]:
        """Every metric series (copies of one consistent moment), aligned to the recorded steps."""
        with self._lock:
            n = len(self)
            return {name: self._series_copy(name, n) for name in self._series}

    @property
    def run_id(self) -> str:
        """The run's id (what labels refer to); old bundles without one use their file name."""
        run_id = self.config.get("run_id")
        if run_id:
            return str(run_id)
        if self.path is not None:
            return self.path.name
        raise BundleError("this trajectory has no run id and no file name; save it first")

    @property
    def planned_steps(self) -> int | None:
        """The steps the run was set up for (the chart's axis span while it goes), if known."""
        run = self.config.get("run")
        total = self.config.get("total_steps", run.get("steps") if isinstance(run, dict) else None)
        ok = isinstance(total, (int, float)) and not isinstance(total, bool) and 0 <= total <= 10 * MAX_STEPS
        return int(total) if ok else None

    # -- bundle I/O -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle atomically: a crash mid-write leaves any earlier file at ``path`` intact."""
        path = Path(path)
        with self._lock:  # one consistent moment, also while a run appends in another thread
            n = len(self)
            # only the frames of complete steps: Ctrl-C can land inside ``append`` after its frame was
            # stored but before its step counted, and the bundle must still be consistent
            stored = min(bisect.bisect_left(self._frame_steps, n), len(self._blobs))
            frame_steps = np.asarray(self._frame_steps[:stored], dtype=np.int64)
            blobs = self._blobs_in(0, stored)
            series = {name: self._series_copy(name, n) for name in self._series}
            side = _side_arrays(self._side_steps, self._side, n)
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in blobs])
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "codec": self.codec.name,
            "frame_size": list(self.frame_size),
            "num_frames": n,
            "stored_frames": len(blobs),
            "keyframe_every": self.codec.keyframe_every,
            "record_every": self.record_every,
            "frame_label": self.frame_label,
            "palette": to_hex(self.palette).split() if self.palette is not None else None,
            "curves": [c.to_dict() for c in self.curves],
            "series": list(series),
            "extras": list(self.extras),
            "side_labels": self.side_labels,
            "config": self.config,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1, default=_json_default))
            zf.writestr("input.png", _png_bytes(self.input_image), compress_type=zipfile.ZIP_STORED)
            zf.writestr("series.npz", _npz_bytes(series))
            if self.extras:
                zf.writestr("extras.npz", _npz_bytes(self.extras))
            if side:
                zf.writestr("side.npz", _npz_bytes(side))
            zf.writestr("frames.idx.npy", _npy_bytes(offsets))
            zf.writestr("frames.steps.npy", _npy_bytes(frame_steps))
            zf.writestr("frames.bin", b"".join(blobs), compress_type=zipfile.ZIP_STORED)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trajectory":
        """Open a bundle; frames are read lazily, a few bytes per step asked for.

        The bundle may come from anyone (an upload on a shared server): every member's size is checked
        against what the manifest implies before it is read, the frame index is checked whole and so
        is the size of frame 0, so a damaged or hostile file is refused here, in one line naming it,
        with memory bounded by the limits below (``MAX_*``) whatever the file claims. Damaged bytes
        inside a later frame show when that frame is read (``scan_bundles`` and the app read the last)."""
        path = Path(path)
        try:
            with open_zip(path) as zf:
                parts = _read_parts(zf, path)
        except BundleError:
            raise
        except NotAZip as exc:
            raise BundleError(f"{path.name} {exc}") from None
        except Refused as exc:
            raise BundleError(f"{path.name} is refused: {exc}") from None
        except FileNotFoundError:
            raise BundleError(f"bundle {path} does not exist") from None
        except IsADirectoryError:
            raise BundleError(f"{path} is a folder, not a bundle file") from None
        except PermissionError:
            raise BundleError(f"{path.name} cannot be read: permission denied") from None
        except (zipfile.BadZipFile, zlib.error) as exc:  # a zip whose directory or data is damaged
            raise BundleError(f"{path.name} is a damaged zip archive ({exc}); download or copy it again") from None
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError, OSError,
                EOFError, struct.error) as exc:  # whatever a damaged file makes a parser raise
            raise BundleError(
                f"{path.name} is not a readable trajectory bundle ({exc.__class__.__name__}); "
                "it may be truncated or not a bundle"
            ) from None
        manifest, input_image, series, extras, frames, frame_steps, side = parts
        palette = manifest["palette"]
        try:
            curves = tuple(Curve.from_dict(c) for c in manifest.get("curves") or [])
        except (TypeError, AttributeError, KeyError, ValueError):
            raise BundleError(f"{path.name}: its manifest's curves are damaged") from None
        curves = curves or standard_curves(list(series))  # version 1 declared none
        traj = cls(
            palette=parse_hex("\n".join(palette), source=f"{path.name} palette") if palette is not None else None,
            input_image=input_image,
            frame_size=tuple(manifest["frame_size"]),
            config=manifest["config"],
            extras=extras,
            curves=curves,
            kind=str(manifest.get("kind", "pixelart")),
            record_every=manifest["record_every"],
            frame_label=str(manifest.get("frame_label", "Pixel art")),
        )
        if palette is not None and manifest["keyframe_every"] != KEYFRAME_EVERY:
            traj.codec = codec_for("palette", manifest["keyframe_every"])
        traj._source = frames
        traj._steps = manifest["num_frames"]
        traj._frame_steps = frame_steps.tolist()
        for name, values in series.items():
            traj._series[name] = _GrowingSeries(values)
        traj._side_steps, traj._side = side
        labels = manifest.get("side_labels")
        traj.side_labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        traj.path = path
        return traj


# Limits on what a bundle may hold. They are far above any recorded run (a 10,000-step SD-πXL run
# of 64×64 frames makes a 20 MB bundle) and keep what opening one allocates to a few hundred MB.
MAX_STEPS = 1_000_000
MAX_FRAME_PIXELS = 4096 * 4096
MAX_INPUT_PIXELS = 4096 * 4096
MAX_MANIFEST_BYTES = 4 << 20
MAX_SERIES = 256
MAX_SERIES_BYTES = 128 << 20
MAX_EXTRAS = 64
MAX_EXTRAS_BYTES = 128 << 20
MAX_SIDE_KEYS = 16
MAX_SIDE_BYTES = 256 << 20
_SIDE_KEY = re.compile(r"^\w{1,64}$")


def _read_parts(zf: zipfile.ZipFile, path: Path) -> tuple:
    """Every member of an open bundle, each checked before it is read (see ``Trajectory.load``)."""
    name = path.name
    manifest = _check_manifest(loads_json(read_member(zf, "manifest.json", MAX_MANIFEST_BYTES)), name)
    steps = manifest["num_frames"]
    input_image = load_rgb_image(read_member(zf, "input.png", 4 * MAX_INPUT_PIXELS + (1 << 20)), "input.png",
                                 MAX_INPUT_PIXELS)
    series_bytes = min(MAX_SERIES_BYTES, MAX_SERIES * 8 * steps)
    series = load_npz(read_member(zf, "series.npz", series_bytes + (1 << 20)), "series.npz", max_arrays=MAX_SERIES,
                      max_bytes=series_bytes)
    for key, values in series.items():
        if values.ndim != 1 or values.dtype.kind not in "biuf" or len(values) > steps:
            raise BundleError(f"{name}: its series '{key}' is not one number per step (file damaged)")
        series[key] = values.astype(np.float64)
    extras = {}
    if "extras.npz" in zf.namelist():  # masks of the input image, style images of the frame size: int64 at most
        height, width = manifest["frame_size"]
        each = 8 * 3 * max(input_image.shape[0] * input_image.shape[1], max(height, width) ** 2)
        extras_bytes = min(MAX_EXTRAS_BYTES, each * min(MAX_EXTRAS, max(1, len(manifest.get("extras") or ()))))
        extras = load_npz(read_member(zf, "extras.npz", extras_bytes + (1 << 20)), "extras.npz", max_arrays=MAX_EXTRAS,
                          max_bytes=extras_bytes)
        extras = {key: array.copy() for key, array in extras.items()}  # writable, as np.load's were
    index_bytes = 8 * (steps + 1) + 4096
    offsets = load_npy(read_member(zf, "frames.idx.npy", index_bytes))
    if "frames.steps.npy" in zf.namelist():
        frame_steps = load_npy(read_member(zf, "frames.steps.npy", index_bytes))
    elif manifest["version"] >= 2 and manifest["format"] == FORMAT:
        raise BundleError(f"{name}: frames.steps.npy is missing (file damaged)")
    else:  # version 1: a frame for every step
        frame_steps = np.arange(steps, dtype=np.int64)
    codec = codec_for(manifest["codec"], manifest["keyframe_every"])
    frames = _BundleFrames(path, zf.getinfo("frames.bin"), offsets,
                           codec.max_blob(tuple(manifest["frame_size"])))
    if manifest.get("stored_frames", frames.count) != frames.count:
        raise BundleError(f"{name}: frame index does not match the manifest (file damaged)")
    height, width = manifest["frame_size"]
    pixels = codec.key_pixels(frames.blobs(0, 1)[0], MAX_FRAME_PIXELS) if frames.count else None
    if pixels is not None and pixels != height * width:  # damaged bytes show when that frame is read
        raise BundleError(f"{name}: its frames are not of its frame size {height}×{width} (file damaged)")
    _check_frame_steps(frame_steps, frames.count, steps, name)
    side = _read_side(zf, steps, name) if "side.npz" in zf.namelist() else ([], [])
    return manifest, input_image, series, extras, frames, frame_steps, side


def _side_arrays(steps: list[int], images: list[dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    """The side images of steps below ``n`` as ``side.npz`` arrays: per key a stack and its steps."""
    out: dict[str, np.ndarray] = {}
    keys = list(dict.fromkeys(k for d in images for k in d))
    for key in keys:
        kept = [(step, d[key]) for step, d in zip(steps, images) if key in d and step < n]
        if kept:
            out[f"{key}.steps"] = np.asarray([step for step, _ in kept], dtype=np.int64)
            out[key] = np.stack([image for _, image in kept])
    return out


def _read_side(zf: zipfile.ZipFile, steps: int, name: str) -> tuple[list[int], list[dict[str, np.ndarray]]]:
    """``side.npz`` as (ascending steps, their images by key), every array checked against the run."""
    arrays = load_npz(read_member(zf, "side.npz", MAX_SIDE_BYTES + (1 << 20)), "side.npz",
                      max_arrays=2 * MAX_SIDE_KEYS, max_bytes=MAX_SIDE_BYTES)
    by_step: dict[int, dict[str, np.ndarray]] = {}
    for key, stack in arrays.items():
        if key.endswith(".steps"):
            continue
        at = arrays.get(f"{key}.steps")
        if (at is None or not _SIDE_KEY.match(key) or stack.dtype != np.uint8 or stack.ndim != 4 or stack.shape[3] != 3
                or at.ndim != 1 or len(at) != len(stack) or not np.issubdtype(at.dtype, np.integer)
                or (len(at) and (at[0] < 0 or at[-1] >= steps or np.any(np.diff(at) <= 0)))):
            raise BundleError(f"{name}: its side images '{key}' are damaged")
        for step, image in zip(at.tolist(), stack):
            by_step.setdefault(int(step), {})[key] = image.copy()
    ordered = sorted(by_step)
    return ordered, [by_step[s] for s in ordered]


def _check_frame_steps(frame_steps: np.ndarray, stored: int, steps: int, name: str) -> None:
    """Stored frames' steps must be ascending integers within the run, one per stored frame, from 0."""
    if frame_steps.ndim != 1 or len(frame_steps) != stored or (steps and stored == 0):
        raise BundleError(f"{name}: frame index does not match the manifest (file damaged)")
    if stored and (not np.issubdtype(frame_steps.dtype, np.integer) or frame_steps[0] != 0
                   or frame_steps[-1] >= steps or np.any(np.diff(frame_steps) <= 0)):
        raise BundleError(f"{name}: the steps of its frames are damaged")


def _check_manifest(manifest: Any, name: str) -> dict[str, Any]:
    """The manifest's fields this reader relies on, checked; BundleError says which one is wrong."""
    if not isinstance(manifest, dict) or manifest.get("format") not in FORMATS:
        raise BundleError(f"{name} is not a trajectory bundle")
    version = manifest.get("version", 0)
    if not _is_int(version) or version > FORMATS[manifest["format"]]:
        raise BundleError(f"{name} was written by a newer version (bundle v{version}); update this program to open it")
    size = manifest.get("frame_size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and 1 <= v <= 4096 for v in size)
            and size[0] * size[1] <= MAX_FRAME_PIXELS):
        raise BundleError(f"{name}: its manifest has no valid frame size (file damaged)")
    steps = manifest.get("num_frames")
    if not _is_int(steps) or steps < 0:
        raise BundleError(f"{name}: its manifest has no valid frame count (file damaged)")
    if steps > MAX_STEPS:
        raise BundleError(f"{name} is refused: it claims {steps:,} steps, over the {MAX_STEPS:,} a bundle may hold")
    for key, default, top in (("record_every", 1, MAX_STEPS), ("keyframe_every", KEYFRAME_EVERY, 4096)):
        value = manifest.setdefault(key, default)
        if not _is_int(value) or not 1 <= value <= top:
            raise BundleError(f"{name}: its manifest's {key} is not a whole number from 1 to {top} (file damaged)")
    codec = manifest.setdefault("codec", "palette")
    palette = manifest.get("palette")
    if codec == "palette":
        if not (isinstance(palette, list) and 0 < len(palette) <= 256 and all(isinstance(h, str) for h in palette)):
            raise BundleError(f"{name}: its manifest has no valid palette (file damaged)")
    elif codec == "png":
        manifest["palette"] = None
    else:
        raise BundleError(f"{name} uses the frame codec '{codec}', which this version cannot read; update it")
    if not isinstance(manifest.setdefault("config", {}), dict):
        raise BundleError(f"{name}: its manifest's config is not a mapping (file damaged)")
    return manifest


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _BundleFrames:
    """Random access to the frame blobs inside a bundle's stored ``frames.bin`` member.

    The file is opened per read rather than held open, so any number of bundles can be open at once
    (an evaluation opens a whole folder) without running out of file handles.
    """

    def __init__(self, path: Path, info: zipfile.ZipInfo, offsets: np.ndarray, max_blob: int) -> None:
        if info.compress_type != zipfile.ZIP_STORED:
            raise BundleError(f"{path.name}: frames are not stored uncompressed")
        _check_offsets(offsets, info.file_size, max_blob, path.name)
        self.path = path
        self.offsets = offsets.astype(np.int64)
        self.count = len(offsets) - 1
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            header = fh.read(30)
        if header[:4] != b"PK\x03\x04":
            raise BundleError(f"{path.name}: damaged zip entry for frames")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        self.data_start = info.header_offset + 30 + name_len + extra_len

    def blobs(self, start: int, stop: int) -> list[bytes]:
        """The blobs of frames start..stop-1, read in one pass over their byte range."""
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.data_start + first)
                data = fh.read(last - first)
        except OSError as exc:
            raise BundleError(f"{self.path.name} can no longer be read ({exc.strerror or exc})") from None
        if len(data) != last - first:
            raise BundleError(f"{self.path.name}: frame data is truncated")
        cuts = self.offsets[start : stop + 1] - first
        return [data[int(a) : int(b)] for a, b in zip(cuts[:-1], cuts[1:])]


def _check_offsets(offsets: np.ndarray, size: int, max_blob: int, name: str) -> None:
    """The frame index: whole byte offsets from 0 rising to the end of ``frames.bin``, each frame
    non-empty and no larger than one frame of the bundle's size can be."""
    if offsets.ndim != 1 or len(offsets) < 1 or offsets.dtype.kind not in "iu":
        raise BundleError(f"{name}: its frame index is not a list of whole byte offsets (file damaged)")
    sizes = np.diff(offsets.astype(np.int64))
    if int(offsets[0]) != 0 or int(offsets[-1]) != size:
        raise BundleError(f"{name}: its frame index points outside the frame data (file truncated or damaged)")
    if len(sizes) and (sizes.min() <= 0 or sizes.max() > max_blob):
        raise BundleError(f"{name}: its frame index is not in order or names frames larger than a frame can be "
                          "(file damaged)")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@dataclass
class BundleScan:
    """The bundles of a folder that open, and a "name: why" line for each one skipped."""

    folder: Path
    trajectories: list[Trajectory]
    skipped: list[str]


def scan_bundles(folder: str | os.PathLike) -> BundleScan:
    """Open every ``*.bundle`` in a folder. Damaged bundles (their newest frame is decoded to find
    damaged frame data), empty ones, and a second file of the same run (labels refer to runs) are
    skipped with a reason instead of stopping the whole set."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"bundle folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    paths = sorted(folder.glob("*.bundle"))
    if not paths:
        raise BundleError(f"no .bundle files in {folder}")
    trajectories, skipped, seen = [], [], {}
    for path in paths:
        try:
            traj = Trajectory.load(path)
            if len(traj):
                traj.frame(len(traj) - 1)  # frames are read lazily: damaged frame data shows only here
        except BundleError as exc:
            message = str(exc)
            skipped.append(message if message.startswith(path.name) else f"{path.name}: {message}")
            continue
        if not len(traj):
            skipped.append(f"{path.name}: holds no steps")
        elif traj.run_id in seen:
            skipped.append(f"{path.name}: the same run as {seen[traj.run_id]}, skipped")
        else:
            seen[traj.run_id] = path.name
            trajectories.append(traj)
    return BundleScan(folder, trajectories, skipped)
