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

Version 1 bundles (pixel art, format ``pixelart-trajectory``) open unchanged.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import struct
import threading
import time
import uuid
import zipfile
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
from workbench.palette import indices_to_rgb, parse_hex, to_hex

FORMAT = "workbench-trajectory"
VERSION = 2
FORMATS = {"pixelart-trajectory": 1, FORMAT: VERSION}  # format name -> newest version it was written in


class _GrowingSeries:
    """A float64 array that grows by doubling; ``view`` is the filled prefix."""

    def __init__(self, values: np.ndarray | None = None) -> None:
        values = np.asarray(values if values is not None else [], dtype=np.float64)
        self._data = np.full(max(16, 2 * len(values)), np.nan)
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

    @classmethod
    def from_start(cls, start: RunStart) -> "Trajectory":
        """An empty trajectory for the run that yielded ``start``. Every run gets a run id (what labels
        refer to, so renaming a bundle keeps its labels), its creation time and its planned steps."""
        config = {"run_id": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "total_steps": start.total, **start.config}
        return cls(input_image=start.input_image, frame_size=start.frame_size, palette=start.palette,
                   config=config, extras=start.extras, curves=start.curves, kind=start.kind,
                   record_every=start.record_every, frame_label=start.frame_label)

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

    def recorded_step(self, step: int) -> int:
        """The newest step at or before ``step`` that has a stored frame."""
        n = len(self)
        if step < 0:
            step += n
        if not 0 <= step < n:
            raise IndexError(f"step {step} is not recorded (0..{n - 1})")
        with self._lock:
            return self._frame_steps[bisect.bisect_right(self._frame_steps, step) - 1]

    def frame(self, step: int) -> np.ndarray:
        """The stored frame shown at ``step``: palette indices (H, W) or RGB (H, W, 3), uint8."""
        n = len(self)
        if step < 0:
            step += n
        if not 0 <= step < n:
            raise IndexError(f"step {step} is not recorded (0..{n - 1})")
        with self._lock:
            index = bisect.bisect_right(self._frame_steps, step) - 1
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
        total = self.config.get("total_steps", self.config.get("run", {}).get("steps"))
        return int(total) if isinstance(total, (int, float)) else None

    # -- bundle I/O -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle atomically: a crash mid-write leaves any earlier file at ``path`` intact."""
        path = Path(path)
        with self._lock:  # one consistent moment, also while a run appends in another thread
            n = len(self)
            frame_steps = np.asarray(self._frame_steps, dtype=np.int64)
            blobs = self._blobs_in(0, len(frame_steps))
            series = {name: self._series_copy(name, n) for name in self._series}
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
            "config": self.config,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1, default=_json_default))
            zf.writestr("input.png", _png_bytes(self.input_image), compress_type=zipfile.ZIP_STORED)
            zf.writestr("series.npz", _npz_bytes(series))
            if self.extras:
                zf.writestr("extras.npz", _npz_bytes(self.extras))
            zf.writestr("frames.idx.npy", _npy_bytes(offsets))
            zf.writestr("frames.steps.npy", _npy_bytes(frame_steps))
            zf.writestr("frames.bin", b"".join(blobs), compress_type=zipfile.ZIP_STORED)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trajectory":
        """Open a bundle; frames are read lazily, a few bytes per step asked for."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                manifest = _check_manifest(json.loads(zf.read("manifest.json")), path.name)
                input_image = np.asarray(Image.open(io.BytesIO(zf.read("input.png"))).convert("RGB"))
                series = dict(np.load(io.BytesIO(zf.read("series.npz"))))
                extras = dict(np.load(io.BytesIO(zf.read("extras.npz")))) if "extras.npz" in zf.namelist() else {}
                offsets = np.load(io.BytesIO(zf.read("frames.idx.npy")))
                if "frames.steps.npy" in zf.namelist():
                    frame_steps = np.load(io.BytesIO(zf.read("frames.steps.npy")))
                else:  # version 1: a frame for every step
                    frame_steps = np.arange(manifest["num_frames"], dtype=np.int64)
                frames = _BundleFrames(path, zf.getinfo("frames.bin"), offsets)
        except BundleError:
            raise
        except FileNotFoundError:
            raise BundleError(f"bundle {path} does not exist") from None
        except IsADirectoryError:
            raise BundleError(f"{path} is a folder, not a bundle file") from None
        except PermissionError:
            raise BundleError(f"{path.name} cannot be read: permission denied") from None
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, json.JSONDecodeError) as exc:
            raise BundleError(
                f"{path.name} is not a readable trajectory bundle ({exc.__class__.__name__}); "
                "it may be truncated or not a bundle"
            ) from None
        _check_frame_steps(frame_steps, frames.count, manifest["num_frames"], path.name)
        palette = manifest["palette"]
        try:
            curves = tuple(Curve.from_dict(c) for c in manifest.get("curves") or [])
        except (TypeError, AttributeError):
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
            record_every=int(manifest.get("record_every", 1)),
            frame_label=str(manifest.get("frame_label", "Pixel art")),
        )
        if palette is not None and manifest.get("keyframe_every", KEYFRAME_EVERY) != KEYFRAME_EVERY:
            traj.codec = codec_for("palette", int(manifest["keyframe_every"]))
        traj._source = frames
        traj._steps = manifest["num_frames"]
        traj._frame_steps = [int(s) for s in frame_steps]
        for name, values in series.items():
            traj._series[name] = _GrowingSeries(values)
        traj.path = path
        return traj


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
    if not isinstance(version, int) or version > FORMATS[manifest["format"]]:
        raise BundleError(f"{name} was written by a newer version (bundle v{version}); update this program to open it")
    size = manifest.get("frame_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 1 <= v <= 4096 for v in size)):
        raise BundleError(f"{name}: its manifest has no valid frame size (file damaged)")
    if not isinstance(manifest.get("num_frames"), int) or manifest["num_frames"] < 0:
        raise BundleError(f"{name}: its manifest has no valid frame count (file damaged)")
    codec = manifest.setdefault("codec", "palette")
    palette = manifest.get("palette")
    if codec == "palette":
        if not (isinstance(palette, list) and palette and all(isinstance(h, str) for h in palette)):
            raise BundleError(f"{name}: its manifest has no valid palette (file damaged)")
    elif codec == "png":
        manifest["palette"] = None
    else:
        raise BundleError(f"{name} uses the frame codec '{codec}', which this version cannot read; update it")
    if not isinstance(manifest.setdefault("config", {}), dict):
        raise BundleError(f"{name}: its manifest's config is not a mapping (file damaged)")
    return manifest


class _BundleFrames:
    """Random access to the frame blobs inside a bundle's stored ``frames.bin`` member.

    The file is opened per read rather than held open, so any number of bundles can be open at once
    (an evaluation opens a whole folder) without running out of file handles.
    """

    def __init__(self, path: Path, info: zipfile.ZipInfo, offsets: np.ndarray) -> None:
        if info.compress_type != zipfile.ZIP_STORED:
            raise BundleError(f"{path.name}: frames are not stored uncompressed")
        self.path = path
        self.offsets = offsets
        self.count = len(offsets) - 1
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            header = fh.read(30)
        if header[:4] != b"PK\x03\x04":
            raise BundleError(f"{path.name}: damaged zip entry for frames")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        self.data_start = info.header_offset + 30 + name_len + extra_len
        if self.count < 0 or int(offsets[-1]) != info.file_size:
            raise BundleError(f"{path.name}: frame data is truncated")

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
