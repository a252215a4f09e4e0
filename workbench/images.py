"""Loading and preparing the user's photo.

``load_photo`` turns whatever the user uploaded into a plain 8-bit RGB image or refuses it with an
``ImageInputError`` whose one-line message says what was wrong and what to do. ``prepare_photo``
crops or pads it to the pixel-art aspect ratio and brings it to the working resolution.

Sizes passed around in code are (H, W), like numpy arrays; sizes in messages are written width×height,
the way people read image sizes.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import re
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from workbench.errors import ConfigError, ImageInputError

OUT_SIDE_MIN, OUT_SIDE_MAX = 16, 256
FITS = ("crop", "pad")

# Errors PIL plugins raise for damaged data; anything else is a bug worth a traceback.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# Leading bytes of formats users upload by mistake, to say what the file is rather than only what it isn't.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"GIF8", 0, "GIF"),
    (b"WEBP", 8, "WebP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
]
_HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1", b"ftypavif")


def _fail(message: str) -> ImageInputError:
    """An ``ImageInputError`` whose message is guaranteed to be one line (file names may hold newlines)."""
    return ImageInputError(" ".join(message.split()))


def load_photo(
    source: str | os.PathLike | bytes | BinaryIO | Image.Image, *, max_pixels: int = 40_000_000,
    keep_alpha: bool = False,
) -> Image.Image:
    """Load a photo as a new, fully decoded 8-bit RGB image with its EXIF orientation applied.

    ``source`` is a path, the file's bytes, a binary file object or a PIL image (left untouched).
    Transparent areas become white; 16-bit and float images are scaled down, not clipped; animated
    images give their first frame. Raises ``ImageInputError`` for anything that is not a usable photo,
    including images over ``max_pixels`` pixels (checked from the header, before decoding).
    With ``keep_alpha=True`` an image with transparency (an alpha channel, or a palette / colour key
    marked transparent) comes back as 8-bit RGBA instead, its alpha untouched (cut-out figures).
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1:
        raise ConfigError(f"max_pixels must be a positive whole number, got {max_pixels!r}")
    if isinstance(source, Image.Image):
        return _finish(source, "photo", max_pixels, keep_alpha)
    stream, label = _open_stream(source)
    with stream:
        image = _open_image(stream, label, max_pixels)
        with image:
            return _finish(image, label, max_pixels, keep_alpha)


def _open_stream(source: str | os.PathLike | bytes | BinaryIO) -> tuple[BinaryIO, str]:
    """A readable binary stream over a non-empty source, and how to name it in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), "uploaded photo"
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("open the photo file in binary mode ('rb')")
        name = getattr(source, "name", None)
        label = f"photo '{Path(name).name}'" if isinstance(name, (str, os.PathLike)) else "uploaded photo"
    elif isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source))
    else:
        raise TypeError(f"cannot load a photo from {type(source).__name__}")
    if not data:
        raise _fail(f"{label} is empty (0 bytes); the upload may have failed, upload the photo again")
    return io.BytesIO(data), label


def _open_path(path: Path) -> tuple[BinaryIO, str]:
    if path.is_dir():
        raise _fail(f"{path} is a folder, not a photo; choose an image file")
    if not path.exists():
        raise _fail(f"photo not found: {path}; check the path or upload the photo again")
    label = f"photo '{path.name}'"
    try:
        stream = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as err:
        raise _fail(f"cannot read {label} ({err.strerror}); check the file's permissions") from err
    if os.fstat(stream.fileno()).st_size == 0:
        stream.close()
        raise _fail(f"{label} is empty (0 bytes); the copy or upload may have failed, use the photo again")
    return stream, label


def _open_image(stream: BinaryIO, label: str, max_pixels: int) -> Image.Image:
    """Identify the image and check its header size; no pixels are decoded yet."""
    try:
        image = Image.open(stream)
    except Image.DecompressionBombError as err:
        # PIL refuses before we see the size; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise _fail(
            f"{label} has {size}, over the limit of {max_pixels:,} pixels (a possible decompression "
            "bomb); downscale the photo and upload it again"
        ) from err
    except UnidentifiedImageError as err:
        raise _not_readable(stream, label) from err
    except _DECODE_ERRORS as err:
        raise _corrupt(label, err) from err
    _check_pixel_count(image, label, max_pixels)
    return image


def _check_pixel_count(image: Image.Image, label: str, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise _fail(f"{label} has zero size ({width}×{height} pixels); upload a real photo")
    if width * height > max_pixels:
        raise _fail(
            f"{label} is {width}×{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "pixels (a possible decompression bomb); downscale the photo and upload it again"
        )


def _not_readable(stream: BinaryIO, label: str) -> ImageInputError:
    """The refusal for data PIL cannot identify, naming what the data looks like."""
    stream.seek(0)
    head = stream.read(512)
    for magic, offset, fmt in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return _corrupt(label, f"looks like {fmt} but PIL cannot decode it")
    if head[4:12] in _HEIF_BRANDS:
        kind = "a HEIC/HEIF/AVIF photo, which this installation cannot decode"
    elif head.startswith(b"PK\x03\x04"):
        kind = "a ZIP archive"
    elif head.startswith(b"%PDF"):
        kind = "a PDF document"
    elif _looks_like_text(head):
        kind = "a text file"
    else:
        kind = "unrecognised data"
    return _fail(f"{label} is not an image PIL can read ({kind}); upload a JPEG, PNG or WebP photo")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # The 512-byte window may cut a multi-byte character in half at the very end.
        return err.start >= len(head) - 3
    return True


def _corrupt(label: str, reason: object) -> ImageInputError:
    return _fail(
        f"{label} is truncated or corrupt ({reason}); upload the complete file again or re-export it "
        "as JPEG or PNG"
    )


def _finish(image: Image.Image, label: str, max_pixels: int, keep_alpha: bool = False) -> Image.Image:
    """Decode, orient and convert to RGB (RGBA when ``keep_alpha`` and it has transparency); always
    returns a new image."""
    _check_pixel_count(image, label, max_pixels)
    try:
        with warnings.catch_warnings():
            # The size was checked against max_pixels above; PIL's own, fixed threshold adds only noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except Image.DecompressionBombError as err:
        raise _fail(f"{label} is too large to decode ({err}); downscale the photo") from err
    except _DECODE_ERRORS as err:
        raise _corrupt(label, err) from err
    try:
        oriented = ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        oriented = image.copy()  # broken EXIF should not cost the user the photo
    if keep_alpha and _has_alpha(oriented):
        return _to_rgba(oriented, label)
    return _to_rgb(oriented, label)


def _has_alpha(image: Image.Image) -> bool:
    """Whether the image carries transparency PIL can express as RGBA (not high-depth gray)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return False
    return "A" in image.mode or "a" in image.mode or "transparency" in image.info


def _to_rgba(image: Image.Image, label: str = "photo") -> Image.Image:
    """Any PIL mode with transparency -> 8-bit RGBA (premultiplied modes are un-premultiplied by PIL)."""
    if image.mode == "La":
        image = image.convert("LA")
    try:
        return image.convert("RGBA")
    except ValueError as err:
        raise _fail(
            f"{label} uses the colour mode {image.mode}, which cannot be converted to RGBA; save it as an "
            "RGBA PNG"
        ) from err


def _to_rgb(image: Image.Image, label: str = "photo") -> Image.Image:
    """Any PIL mode -> 8-bit RGB: transparency over white, high bit depths scaled down."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = Image.fromarray(_scale_to_uint8(np.asarray(image), image.mode))
        return gray.convert("RGB")
    if image.mode == "La":
        image = image.convert("LA")
    try:
        if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")
    except ValueError as err:
        raise _fail(
            f"{label} uses the colour mode {image.mode}, which cannot be converted to RGB; save it as an "
            "RGB JPEG or PNG"
        ) from err


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Map high-depth gray values to 0..255 by the range they are stored in, so nothing clips to white.

    16-bit images use 0..65535. For 32-bit integer and float data the container says little, so the
    first of 0..1 (float only), 0..255 and 0..65535 that holds the data is used, else its own min..max.
    """
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(data.min()), float(data.max())
    if mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        nominal = [1.0, 255.0, 65535.0] if mode == "F" else [255.0, 65535.0]
        fitting = [top for top in nominal if low >= 0.0 and high <= top]
        if fitting:
            low, high = 0.0, fitting[0]
    if high <= low:
        return np.zeros(data.shape, np.uint8)
    return np.clip(np.rint((data - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


def prepare_photo(
    image: Image.Image,
    out_size: tuple[int, int],
    work_size: tuple[int, int],
    *,
    fit: str = "crop",
    min_side: int | None = None,
) -> Image.Image:
    """Bring the photo to ``work_size`` (H, W) with the aspect ratio of the pixel art ``out_size`` (H, W).

    ``fit="crop"`` keeps the centre of the photo; ``fit="pad"`` keeps all of it and letterboxes with the
    mean colour of its border (so a full-body shot keeps head and feet). The cropped or padded photo must
    be at least ``out_size`` on each side, or ``min_side`` pixels on each side when given, since enlarging
    a small photo adds no detail to the pixel art.
    """
    if fit not in FITS:
        raise ConfigError(f"unknown fit '{fit}'; use one of: {', '.join(FITS)}")
    out_h, out_w = _size_pair(out_size, "output size")
    work_h, work_w = _size_pair(work_size, "working size")
    rgb = image if image.mode == "RGB" else _to_rgb(image)
    width, height = rgb.size
    aspect = out_w / out_h
    if fit == "crop":
        region_w, region_h = min(width, height * aspect), min(height, width / aspect)
    else:
        region_w, region_h = max(width, height * aspect), max(height, width / aspect)
    _check_large_enough((width, height), (region_w, region_h), (out_w, out_h), fit, min_side)

    if fit == "crop":
        left, top = (width - region_w) / 2, (height - region_h) / 2
        box = (left, top, left + region_w, top + region_h)
        return rgb.resize((work_w, work_h), _resample(region_w, work_w), box=box)

    # Scale the photo itself and paste it, so the padding edge stays sharp (no filter ringing).
    scale = min(work_w / width, work_h / height)
    content_w, content_h = max(1, round(width * scale)), max(1, round(height * scale))
    content = rgb.resize((content_w, content_h), _resample(width, content_w))
    canvas = Image.new("RGB", (work_w, work_h), _border_colour(rgb))
    canvas.paste(content, ((work_w - content_w) // 2, (work_h - content_h) // 2))
    return canvas


def _check_large_enough(
    photo: tuple[int, int],
    region: tuple[float, float],
    out: tuple[int, int],
    fit: str,
    min_side: int | None,
) -> None:
    (width, height), (region_w, region_h) = photo, (round(region[0]), round(region[1]))
    need_w, need_h = (min_side, min_side) if min_side is not None else out
    if region_w >= need_w and region_h >= need_h:
        return
    cropped = fit == "crop" and (region_w, region_h) != (width, height)
    note = f" ({region_w}×{region_h} after cropping to the output's aspect ratio)" if cropped else ""
    if min_side is not None:
        raise _fail(
            f"photo is {width}×{height} pixels{note}, smaller than the minimum of {min_side} pixels per "
            "side; use a larger photo"
        )
    raise _fail(
        f"photo is {width}×{height} pixels{note}, smaller than the {out[0]}×{out[1]} pixel-art output; "
        f"use a photo of at least {need_w}×{need_h} pixels{_largest_output(region_w, region_h, out)}"
    )


def _largest_output(region_w: int, region_h: int, out: tuple[int, int]) -> str:
    """' or an output of at most W×H' (the output's shape, scaled down to fit the photo) when that is
    still a valid output size, else what the smallest output needs: name what would work."""
    scale = min(region_w / out[0], region_h / out[1])
    largest = (int(out[0] * scale), int(out[1] * scale))
    if min(largest) >= OUT_SIDE_MIN:
        return f" or an output of at most {largest[0]}×{largest[1]} pixels"
    return f" (even the smallest output, {OUT_SIDE_MIN}×{OUT_SIDE_MIN}, needs {OUT_SIDE_MIN} pixels per side)"


def _resample(source_side: float, target_side: int) -> Image.Resampling:
    """LANCZOS when reducing keeps detail without aliasing; BICUBIC when enlarging avoids ringing."""
    return Image.Resampling.LANCZOS if target_side <= source_side else Image.Resampling.BICUBIC


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    """Mean colour of a thin frame around the image (2% of the short side, at least one pixel)."""
    width, height = image.size
    ring = max(1, round(0.02 * min(width, height)))
    strips = [
        image.crop((0, 0, width, ring)),
        image.crop((0, height - ring, width, height)),
        image.crop((0, 0, ring, height)),
        image.crop((width - ring, 0, width, height)),
    ]
    pixels = np.concatenate([np.asarray(strip).reshape(-1, 3) for strip in strips])
    return tuple(int(round(c)) for c in pixels.mean(axis=0))


def working_size(out_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) with the aspect ratio of ``out_size``, long side ``long_side``, each side a multiple of 8.

    E.g. out (48, 64) with long side 1024 -> (768, 1024). Multiples of 8 suit the diffusion model's VAE.
    """
    out_h, out_w = _size_pair(out_size, "output size")
    if isinstance(long_side, bool) or not isinstance(long_side, numbers.Integral) or long_side < 8:
        raise ConfigError(f"working resolution {long_side!r} is invalid: it must be a whole number ≥ 8")
    longest = max(out_h, out_w)

    def snap(side: float) -> int:
        return max(8, math.floor(side / 8 + 0.5) * 8)

    return snap(long_side * out_h / longest), snap(long_side * out_w / longest)


def validate_out_size(out_size: tuple[int, int]) -> tuple[int, int]:
    """Check the pixel-art size (H, W): whole numbers from 16 to 256. Returns it as a tuple of ints."""
    height, width = _size_pair(out_size, "output size", positive=False)
    if not (OUT_SIDE_MIN <= height <= OUT_SIDE_MAX and OUT_SIDE_MIN <= width <= OUT_SIDE_MAX):
        raise ConfigError(
            f"output size {width}×{height} is out of range: each side must be {OUT_SIDE_MIN} to "
            f"{OUT_SIDE_MAX} pixels"
        )
    return height, width


def _size_pair(size: tuple[int, int], what: str, *, positive: bool = True) -> tuple[int, int]:
    """(H, W) as ints; integral floats are accepted because UI number fields produce them."""
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be two numbers (height, width), got {size!r}") from None
    sides = []
    for side in (height, width):
        integral = isinstance(side, numbers.Integral) or (isinstance(side, float) and side.is_integer())
        if isinstance(side, bool) or not integral or (positive and side < 1):
            raise ConfigError(
                f"{what} {size!r} is invalid: each side must be a positive whole number of pixels"
            )
        sides.append(int(side))
    return sides[0], sides[1]


def to_uint8_array(image: Image.Image) -> np.ndarray:
    """PIL image -> writable (H, W, 3) uint8 array (converted to RGB first when needed)."""
    rgb = image if image.mode == "RGB" else _to_rgb(image)
    return np.array(rgb, dtype=np.uint8)


def from_uint8_array(array: np.ndarray) -> Image.Image:
    """(H, W, 3) uint8 array -> RGB PIL image."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {array.shape} {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array))
