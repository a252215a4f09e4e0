"""Frame codecs of trajectory bundles: how one recorded frame becomes bytes and back.

- ``PaletteCodec``: palette indices (H, W) uint8, each frame zlib-compressed on its own; every
  ``KEYFRAME_EVERY``-th frame whole, the others XOR-ed with the previous frame (zeros where nothing
  changed, which is most pixels from one SDS step to the next). Reading a frame decodes its key frame
  and at most ``KEYFRAME_EVERY - 1`` small deltas, never the rest of the run.
- ``PngCodec``: RGB (H, W, 3) uint8 frames as PNG, lossless, each frame independent (random access is
  one PNG decode). Photographic frames change everywhere from step to step, so deltas would not help;
  PNG at compression level 1 keeps recording cheap (see ``bench/bench_codecs.py``).
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

KEYFRAME_EVERY = 32
_ZLIB_LEVEL = 6
_PNG_LEVEL = 1


class FrameCodec(Protocol):
    """Encodes frames in recording order and decodes any one of them from its neighbours' blobs."""

    name: str
    keyframe_every: int  # blobs needed to decode frame i start at i - i % keyframe_every

    def shape(self, frame_size: tuple[int, int]) -> tuple[int, ...]: ...

    def max_blob(self, frame_size: tuple[int, int]) -> int: ...

    def key_pixels(self, blob: bytes, limit: int) -> int | None: ...

    def encode(self, index: int, frame: np.ndarray, previous: np.ndarray | None) -> bytes: ...

    def decode(self, blobs: Sequence[bytes], start_frame: np.ndarray | None, frame_size: tuple[int, int]) -> np.ndarray: ...


class PaletteCodec:
    """Palette indices with key frames and XOR deltas (bundle format version 1's frames)."""

    name = "palette"

    def __init__(self, keyframe_every: int = KEYFRAME_EVERY) -> None:
        self.keyframe_every = keyframe_every

    def shape(self, frame_size: tuple[int, int]) -> tuple[int, ...]:
        """Shape of one frame."""
        return tuple(frame_size)

    def max_blob(self, frame_size: tuple[int, int]) -> int:
        """The most bytes one frame's blob can take (zlib never grows data by more than this)."""
        raw = frame_size[0] * frame_size[1]
        return raw + raw // 1000 + 64

    def key_pixels(self, blob: bytes, limit: int) -> int | None:
        """How many pixels a key frame's blob holds (inflating at most ``limit`` bytes); None when it
        does not inflate whole within that, which reading the frame reports as damage."""
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(blob, limit + 1)
        except zlib.error:
            return None
        return len(data) if inflater.eof else None

    def encode(self, index: int, frame: np.ndarray, previous: np.ndarray | None) -> bytes:
        """The blob of recorded frame ``index``; ``previous`` is the frame recorded before it."""
        if index % self.keyframe_every == 0 or previous is None:
            return zlib.compress(frame.tobytes(), _ZLIB_LEVEL)
        return zlib.compress(np.bitwise_xor(frame, previous).tobytes(), _ZLIB_LEVEL)

    def decode(self, blobs: Sequence[bytes], start_frame: np.ndarray | None, frame_size: tuple[int, int]) -> np.ndarray:
        """The last frame of a chain: ``blobs`` from a key frame (``start_frame`` None) or following
        the already decoded ``start_frame``."""
        frame = start_frame
        size = frame_size[0] * frame_size[1]
        for position, blob in enumerate(blobs):
            try:
                inflater = zlib.decompressobj()
                data = inflater.decompress(blob, size + 1)  # a blob inflating past one frame is damaged
                if len(data) != size or not inflater.eof:
                    raise ValueError("not one frame")
                raw = np.frombuffer(data, dtype=np.uint8).reshape(frame_size)
            except (zlib.error, ValueError):
                raise DamagedFrame(position) from None
            frame = raw if frame is None else np.bitwise_xor(frame, raw)
        return frame


class PngCodec:
    """RGB frames as independent PNG images."""

    name = "png"
    keyframe_every = 1

    def shape(self, frame_size: tuple[int, int]) -> tuple[int, ...]:
        """Shape of one frame."""
        return (*frame_size, 3)

    def max_blob(self, frame_size: tuple[int, int]) -> int:
        """The most bytes one frame's PNG can take (stored rows plus chunk overhead)."""
        raw = frame_size[0] * (frame_size[1] * 3 + 1)
        return raw + raw // 1000 + 4096

    def key_pixels(self, blob: bytes, limit: int) -> int | None:
        """How many pixels a frame's PNG header states; None when it is not a PNG header."""
        if blob[:8] != b"\x89PNG\r\n\x1a\n" or blob[12:16] != b"IHDR" or len(blob) < 24:
            return None
        width, height = struct.unpack(">II", blob[16:24])
        return width * height

    def encode(self, index: int, frame: np.ndarray, previous: np.ndarray | None) -> bytes:
        """One frame's PNG bytes."""
        buf = io.BytesIO()
        Image.fromarray(frame, "RGB").save(buf, format="PNG", compress_level=_PNG_LEVEL)
        return buf.getvalue()

    def decode(self, blobs: Sequence[bytes], start_frame: np.ndarray | None, frame_size: tuple[int, int]) -> np.ndarray:
        """The frame of the last blob."""
        try:
            with Image.open(io.BytesIO(blobs[-1])) as img:
                # the size comes from the header: a frame of any other size is refused before decoding
                if img.format != "PNG" or img.size != (frame_size[1], frame_size[0]):
                    raise ValueError("not a PNG frame of the bundle's frame size")
                return np.asarray(img.convert("RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise DamagedFrame(len(blobs) - 1) from None


CODECS = {"palette": PaletteCodec, "png": PngCodec}


class DamagedFrame(ValueError):
    """A blob did not decode; ``position`` is its place in the blobs handed to ``decode``."""

    def __init__(self, position: int) -> None:
        super().__init__(f"blob {position} does not decode")
        self.position = position


def codec_for(name: str, keyframe_every: int = KEYFRAME_EVERY) -> FrameCodec:
    """A codec by its manifest name."""
    if name == "palette":
        return PaletteCodec(keyframe_every)
    if name == "png":
        return PngCodec()
    raise ValueError(f"unknown frame codec '{name}'")
