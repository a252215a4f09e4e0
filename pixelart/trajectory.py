"""A recorded SDS trajectory and its one-file bundle.

A trajectory holds the resized input photo, the palette, the hard frame (palette indices) of every
recorded step, one float series per metric, and the run's config. In memory it grows while a run
goes; ``save`` writes it as a bundle and ``Trajectory.load`` opens a bundle without any model or GPU.

Bundle layout (a zip file, inspectable with any unzip tool):

- ``manifest.json``: format, version, frame size, palette, config, library versions, series names
- ``input.png``: the photo at the metric working resolution (see ``pixelart.metrics``)
- ``series.npz``: one float64 array per metric, NaN where a value was not computed
- ``frames.bin`` (stored, not deflated) + ``frames.idx.npy`` (byte offsets): each frame zlib-compressed
  on its own; every ``KEYFRAME_EVERY``-th frame whole, the others XOR-ed with the previous frame (zeros
  where nothing changed, which is most pixels from one SDS step to the next). Reading a frame decodes
  its key frame and at most ``KEYFRAME_EVERY - 1`` small deltas (well under a millisecond), never the
  rest of the run; reading the next frame after a frame decodes one delta.
- ``extras.npz`` (optional): extra arrays such as part masks

Frames are uint8 indices, so palettes have at most 256 colours.
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from PIL import Image

from pixelart.errors import BundleError
from pixelart.atomic import atomic_path
from pixelart.palette import indices_to_rgb, parse_hex, to_hex

FORMAT = "pixelart-trajectory"
VERSION = 1
KEYFRAME_EVERY = 32
_ZLIB_LEVEL = 6


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
    """Frames, metric series, palette, input and config of one run (in memory or backed by a bundle)."""

    def __init__(
        self,
        *,
        palette: np.ndarray,
        input_image: np.ndarray,
        frame_size: tuple[int, int],
        config: Mapping[str, Any] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        if len(self.palette) > 256:
            raise BundleError(f"a palette of {len(self.palette)} colours does not fit uint8 frames")
        self.input_image = np.asarray(input_image, dtype=np.uint8)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.config: dict[str, Any] = dict(config or {})
        self.extras: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in (extras or {}).items()}
        self._blobs: list[bytes] = []
        self._series: dict[str, _GrowingSeries] = {}
        self._last_frame: np.ndarray | None = None  # the previous append, which deltas refer to
        self._cache: tuple[int, np.ndarray] | None = None  # last decoded (index, frame)
        self._read_lock = threading.Lock()
        self._source: _BundleFrames | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None  # set when opened from (or saved to) a bundle file

    # -- size and frames --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._source.count if self._source is not None else len(self._blobs)

    @property
    def num_frames(self) -> int:
        """How many steps are recorded (step 0 is the initialisation)."""
        return len(self)

    def append(self, frame: np.ndarray, metrics: Mapping[str, float] | None = None) -> int:
        """Record the next step's hard frame and metric values; returns the step index."""
        if self._source is not None:
            raise BundleError("a trajectory opened from a bundle is read-only")
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.shape != self.frame_size:
            raise ValueError(f"frame shape {frame.shape} != trajectory frame size {self.frame_size}")
        with self._lock:
            index = len(self._blobs)
            if index % KEYFRAME_EVERY == 0:
                blob = zlib.compress(frame.tobytes(), _ZLIB_LEVEL)
            else:
                blob = zlib.compress(np.bitwise_xor(frame, self._last_frame).tobytes(), _ZLIB_LEVEL)
            self._blobs.append(blob)
            self._last_frame = frame.copy()
        for name, value in (metrics or {}).items():
            self.set_metric(name, index, value)
        return index

    def frame(self, index: int) -> np.ndarray:
        """Palette indices (H, W) uint8 of one recorded step."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"step {index} is not recorded (0..{n - 1})")
        with self._read_lock:
            start, frame = index - index % KEYFRAME_EVERY, None
            cached = self._cache
            if cached is not None and start <= cached[0] <= index:
                start, frame = cached[0] + 1, cached[1]
            for i in range(start, index + 1):
                raw = self._decode(self._blob(i))
                frame = raw if frame is None else np.bitwise_xor(frame, raw)
            self._cache = (index, frame)
        return frame.copy()

    def rgb(self, index: int) -> np.ndarray:
        """One step's pixel art as (H, W, 3) uint8 in palette colours."""
        return indices_to_rgb(self.frame(index), self.palette)

    def frames(self, indices: Iterable[int]) -> np.ndarray:
        """Several frames stacked (N, H, W)."""
        return np.stack([self.frame(i) for i in indices])

    def _blob(self, index: int) -> bytes:
        return self._source.blob(index) if self._source is not None else self._blobs[index]

    def _decode(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(zlib.decompress(blob), dtype=np.uint8).reshape(self.frame_size)

    # -- metric series ----------------------------------------------------------------------------
    def set_metric(self, name: str, index: int, value: float) -> None:
        """Set one metric value at one step (used to fill in values computed later in a batch)."""
        self._series.setdefault(name, _GrowingSeries()).set(index, float(value))

    def series(self, name: str) -> np.ndarray:
        """The metric's values for steps 0..N-1 (NaN where not computed); a copy-free view."""
        n = len(self)
        if name not in self._series:
            return np.full(n, np.nan)
        s = self._series[name]
        s.extend_to(n)
        return s.view(n)

    @property
    def series_names(self) -> list[str]:
        """Names of the recorded metrics."""
        return list(self._series)

    def all_series(self) -> dict[str, np.ndarray]:
        """Every metric series (copies), aligned to the recorded steps."""
        return {name: self.series(name).copy() for name in self._series}

    # -- bundle I/O -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle atomically: a crash mid-write leaves any earlier file at ``path`` intact."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        n = len(self)
        blobs = [self._blob(i) for i in range(n)]
        offsets = np.zeros(n + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in blobs])
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "frame_size": list(self.frame_size),
            "num_frames": n,
            "keyframe_every": KEYFRAME_EVERY,
            "palette": to_hex(self.palette).split(),
            "series": self.series_names,
            "extras": list(self.extras),
            "config": self.config,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1, default=_json_default))
            zf.writestr("input.png", _png_bytes(self.input_image), compress_type=zipfile.ZIP_STORED)
            zf.writestr("series.npz", _npz_bytes(self.all_series()))
            if self.extras:
                zf.writestr("extras.npz", _npz_bytes(self.extras))
            zf.writestr("frames.idx.npy", _npy_bytes(offsets))
            zf.writestr("frames.bin", b"".join(blobs), compress_type=zipfile.ZIP_STORED)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trajectory":
        """Open a bundle; frames are read lazily, one at a time."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                manifest = json.loads(zf.read("manifest.json"))
                if manifest.get("format") != FORMAT:
                    raise BundleError(f"{path.name} is not a pixel-art trajectory bundle")
                if int(manifest.get("version", 0)) > VERSION:
                    raise BundleError(
                        f"{path.name} was written by a newer version (bundle v{manifest['version']}); "
                        "update this program to open it"
                    )
                input_image = np.asarray(Image.open(io.BytesIO(zf.read("input.png"))).convert("RGB"))
                series = dict(np.load(io.BytesIO(zf.read("series.npz"))))
                extras = dict(np.load(io.BytesIO(zf.read("extras.npz")))) if "extras.npz" in zf.namelist() else {}
                offsets = np.load(io.BytesIO(zf.read("frames.idx.npy")))
                info = zf.getinfo("frames.bin")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise BundleError(f"{path.name}: frames are not stored uncompressed")
        except FileNotFoundError:
            raise BundleError(f"bundle {path} does not exist") from None
        except IsADirectoryError:
            raise BundleError(f"{path} is a folder, not a bundle file") from None
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, json.JSONDecodeError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(
                f"{path.name} is not a readable trajectory bundle ({exc.__class__.__name__}); "
                "it may be truncated or not a bundle"
            ) from None
        palette = parse_hex("\n".join(manifest["palette"]), source=f"{path.name} palette")
        traj = cls(
            palette=palette,
            input_image=input_image,
            frame_size=tuple(manifest["frame_size"]),
            config=manifest.get("config", {}),
            extras=extras,
        )
        traj._source = _BundleFrames(path, info, offsets)
        if traj._source.count != int(manifest["num_frames"]):
            raise BundleError(f"{path.name}: frame index does not match the manifest (file damaged)")
        for name, values in series.items():
            traj._series[name] = _GrowingSeries(values)
        traj.path = path
        return traj


class _BundleFrames:
    """Random access to the frame blobs inside a bundle's stored ``frames.bin`` member."""

    def __init__(self, path: Path, info: zipfile.ZipInfo, offsets: np.ndarray) -> None:
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
        if int(offsets[-1]) != info.file_size:
            raise BundleError(f"{path.name}: frame data is truncated")
        self._lock = threading.Lock()
        self._fh = open(path, "rb")

    def blob(self, index: int) -> bytes:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        with self._lock:
            self._fh.seek(self.data_start + start)
            return self._fh.read(end - start)

    def __del__(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


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
