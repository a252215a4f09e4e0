"""Data preparation for seed §3.2: full-body images on a black background, padded to a square, resized.

For each image of a folder (``python -m facegen prepare IN_DIR OUT_DIR``):

1. The figure is separated from the background. An image with transparency uses its alpha channel
   (the colour is multiplied by alpha, i.e. composited over black). Otherwise the background is the
   set of pixels within ``threshold`` (largest difference over R, G, B, in 0–255) of the background
   colour *that is connected to the image border* (4-connected components, OpenCV), so white clothes
   or eyes enclosed by the figure's outline stay. The background colour is the per-channel median of
   a thin border ring (2 % of the short side) by default (``background="auto"``), or one the user
   names (``white``, ``black``, ``#RRGGBB`` or ``R,G,B``).
2. The image is cropped to the figure's bounding box plus ``margin`` × its long side (within the
   image), then padded with black to a centred square (the aspect ratio is kept).
3. The square is resized to ``size`` × ``size``: Lanczos when shrinking, bicubic when enlarging
   (clipped to 0–255), as ``workbench.images`` does for photos.

With ``pairs=True`` the shoulders-up part of each figure is also cropped into a face image, so the
folder holds (face, body) pairs with matching names (the seed's next step, §5):
the top ``face_fraction`` of the figure's bounding box height is the band; the face image is the
square of that side whose top is the figure's top and whose centre is the horizontal centre of mass
of the figure's pixels in the band; parts outside the image are black. Faces are resized like bodies.

Nothing is half-written (``workbench.atomic``); every skipped file is listed with its reason in
``OUT_DIR/skipped.csv`` (unreadable, too small, no foreground found, no background at the border).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
from PIL import Image

from facegen.data import IMAGE_SUFFIXES
from workbench.atomic import atomic_path
from workbench.errors import ConfigError, ImageInputError
from workbench.images import load_photo

ALPHA_MIN = 16  # alpha at or above this is figure (anti-aliased edges below it are background noise)
MIN_FOREGROUND = 0.002  # of the image's pixels: less than this is "no foreground found"
BORDER_RING = 0.02  # of the short side: the ring whose median is the automatic background colour
NAMED_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0)}
SKIPPED_CSV = "skipped.csv"


@dataclass(frozen=True)
class PrepareOptions:
    """What ``prepare_folder`` does with each image (see the module docstring)."""

    size: int = 512
    threshold: int = 24
    background: str = "auto"  # auto | white | black | #RRGGBB | R,G,B
    margin: float = 0.02
    min_side: int = 64  # the figure's bounding box must be at least this long on its long side
    pairs: bool = False
    face_fraction: float = 0.25

    def validate(self) -> "PrepareOptions":
        if not 8 <= self.size <= 4096:
            raise ConfigError(f"--size {self.size} is out of range: use 8 to 4096 pixels")
        if not 0 <= self.threshold <= 255:
            raise ConfigError(f"--threshold {self.threshold} is out of range: use 0 to 255")
        if not 0 <= self.margin <= 1:
            raise ConfigError(f"--margin {self.margin} is out of range: use 0 to 1 (a fraction of the figure)")
        if self.min_side < 1:
            raise ConfigError(f"--min-side {self.min_side} must be at least 1 pixel")
        if not 0 < self.face_fraction <= 1:
            raise ConfigError(f"--face-fraction {self.face_fraction} is out of range: use more than 0, up to 1")
        parse_background(self.background)
        return self


def parse_background(text: str) -> tuple[int, int, int] | None:
    """The background colour named by ``text``; None for ``auto`` (estimated per image)."""
    t = text.strip().lower()
    if t == "auto":
        return None
    if t in NAMED_COLOURS:
        return NAMED_COLOURS[t]
    if re.fullmatch(r"#[0-9a-f]{6}", t):
        return tuple(int(t[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    parts = t.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    raise ConfigError(f"--background {text!r} is not a colour: use auto, white, black, #RRGGBB or R,G,B (0-255)")


class Skip(Exception):
    """An image that cannot be prepared; ``reason`` is the short category written to skipped.csv."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Prepared:
    """One image on black, as arrays: the figure's mask and the composited RGB."""

    rgb: np.ndarray  # (H, W, 3) uint8, background black
    mask: np.ndarray  # (H, W) bool, True on the figure


def border_colour(rgb: np.ndarray) -> tuple[int, int, int]:
    """Per-channel median of a ring 2 % of the short side wide (at least 1 px) around the image."""
    h, w = rgb.shape[:2]
    r = max(1, round(BORDER_RING * min(h, w)))
    ring = np.concatenate([rgb[:r].reshape(-1, 3), rgb[-r:].reshape(-1, 3),
                           rgb[:, :r].reshape(-1, 3), rgb[:, -r:].reshape(-1, 3)])
    return tuple(int(c) for c in np.median(ring, axis=0))  # type: ignore[return-value]


def background_mask(rgb: np.ndarray, colour: tuple[int, int, int], threshold: int) -> np.ndarray:
    """Pixels within ``threshold`` of ``colour`` that connect to the image border (4-connectivity)."""
    diff = np.abs(rgb.astype(np.int16) - np.asarray(colour, np.int16)).max(axis=2)
    near = (diff <= threshold).astype(np.uint8)
    count, labels = cv2.connectedComponents(near, connectivity=4)
    if count <= 1:
        return near.astype(bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge != 0]  # label 0: the pixels that are not near the colour
    return np.isin(labels, edge)


def on_black(image: Image.Image, options: PrepareOptions) -> Prepared:
    """The figure on a black background (alpha when the image has it, else the border threshold)."""
    if image.mode == "RGBA":
        arr = np.asarray(image)
        alpha = arr[..., 3]
        if alpha.min() < 255:  # a fully opaque alpha channel says nothing: use the threshold
            rgb = (arr[..., :3].astype(np.uint16) * alpha[..., None] + 127) // 255
            mask = alpha >= ALPHA_MIN
            rgb = np.where(mask[..., None], rgb, 0).astype(np.uint8)
            return _checked(Prepared(rgb, mask))
        image = image.convert("RGB")
    rgb = np.asarray(image.convert("RGB"))
    colour = parse_background(options.background) or border_colour(rgb)
    background = background_mask(rgb, colour, options.threshold)
    if not background.any():
        raise Skip("no background found", f"no border pixel is within {options.threshold} of the background "
                   f"colour {colour}; raise --threshold or pass --background")
    mask = ~background
    return _checked(Prepared(np.where(mask[..., None], rgb, 0).astype(np.uint8), mask))


def _checked(p: Prepared) -> Prepared:
    if p.mask.mean() < MIN_FOREGROUND:
        raise Skip("no foreground found", f"under {MIN_FOREGROUND:.1%} of the pixels differ from the background")
    return p


def figure_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the figure's pixels, right / bottom exclusive."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def crop_padded(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``rgb[top:bottom, left:right]`` where parts of the box outside the image are black."""
    left, top, right, bottom = box
    h, w = rgb.shape[:2]
    out = np.zeros((bottom - top, right - left, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = rgb[sy0:sy1, sx0:sx1]
    return out


def pad_square(rgb: np.ndarray) -> np.ndarray:
    """Black padding to a square, the image centred (aspect ratio kept)."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    out = np.zeros((side, side, 3), np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = rgb
    return out


def resize_square(rgb: np.ndarray, size: int) -> Image.Image:
    """Square image to ``size`` × ``size``: Lanczos when shrinking, bicubic when enlarging."""
    image = Image.fromarray(rgb)
    if image.width == size:
        return image
    method = Image.Resampling.LANCZOS if size < image.width else Image.Resampling.BICUBIC
    return image.resize((size, size), method)


def body_image(p: Prepared, options: PrepareOptions) -> np.ndarray:
    """The figure cropped to its box plus margin (within the image), padded to a square."""
    left, top, right, bottom = figure_box(p.mask)
    long = max(right - left, bottom - top)
    if long < options.min_side:
        raise Skip("too small", f"the figure is {right - left}×{bottom - top} pixels, under --min-side "
                   f"{options.min_side}")
    m = round(options.margin * long)
    h, w = p.mask.shape
    box = (max(0, left - m), max(0, top - m), min(w, right + m), min(h, bottom + m))
    return pad_square(crop_padded(p.rgb, box))


def face_box(mask: np.ndarray, fraction: float) -> tuple[int, int, int, int]:
    """The shoulders-up square: side = ``fraction`` × the figure's height, top at the figure's top,
    centred on the horizontal centre of mass of the figure's pixels in that band."""
    left, top, right, bottom = figure_box(mask)
    side = max(1, round(fraction * (bottom - top)))
    band = mask[top:top + side]
    xs = np.nonzero(band)[1]
    centre = float(xs.mean()) + 0.5 if len(xs) else (left + right) / 2
    x0 = int(round(centre - side / 2))
    return x0, top, x0 + side, top + side


def prepare_image(source: str | os.PathLike | Image.Image, options: PrepareOptions
                  ) -> tuple[Image.Image, Image.Image | None]:
    """(body, face or None) for one image; raises ``Skip`` with the reason it cannot be used."""
    try:
        image = load_photo(source, keep_alpha=True)
    except ImageInputError as exc:
        raise Skip("unreadable", str(exc)) from None
    p = on_black(image, options)
    body = resize_square(body_image(p, options), options.size)
    face = None
    if options.pairs:
        face = resize_square(crop_padded(p.rgb, face_box(p.mask, options.face_fraction)), options.size)
    return body, face


def output_names(files: Iterable[Path]) -> dict[Path, str]:
    """``<stem>.png`` per file; stems shared by several files get ``<stem>_<suffix>.png``."""
    files = sorted(files)
    counts: dict[str, int] = {}
    for f in files:
        counts[f.stem.casefold()] = counts.get(f.stem.casefold(), 0) + 1
    return {f: (f.stem if counts[f.stem.casefold()] == 1 else f"{f.stem}_{f.suffix.lstrip('.')}") + ".png"
            for f in files}


def save_png(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


@dataclass
class PrepareReport:
    """What ``prepare_folder`` did: files written and files skipped with reasons."""

    out_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, reason, detail)

    def summary(self) -> str:
        total = len(self.written) + len(self.skipped)
        line = f"prepared {len(self.written)} of {total} images into {self.out_dir}"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason, _ in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            counts = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
            line += f"; skipped {len(self.skipped)} ({counts}), listed in {self.out_dir / SKIPPED_CSV}"
        return line


def prepare_folder(in_dir: str | os.PathLike, out_dir: str | os.PathLike, options: PrepareOptions, *,
                   progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None) -> PrepareReport:
    """Prepare every image directly in ``in_dir`` into ``out_dir`` (or its ``faces/`` and ``bodies/``
    with ``options.pairs``); ``skipped.csv`` lists what was skipped and why (a header only if nothing)."""
    options.validate()
    src, out = Path(in_dir).expanduser(), Path(out_dir).expanduser()
    if not src.is_dir():
        raise ConfigError(f"IN_DIR '{in_dir}' is not a folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"OUT_DIR '{out_dir}' exists and is not a folder")
    if out.resolve() == src.resolve():
        raise ConfigError("OUT_DIR must differ from IN_DIR (prepared images would mix with the originals)")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"IN_DIR '{in_dir}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create OUT_DIR '{out_dir}': {exc.strerror or exc}") from None
    names = output_names(files)
    report = PrepareReport(out)
    for f in (progress(files) if progress else files):
        try:
            body, face = prepare_image(f, options)
        except Skip as skip:
            report.skipped.append((f.name, skip.reason, skip.detail))
            continue
        if options.pairs:
            save_png(face, out / "faces" / names[f])  # type: ignore[arg-type]
            save_png(body, out / "bodies" / names[f])
        else:
            save_png(body, out / names[f])
        report.written.append(names[f])
    with atomic_path(out / SKIPPED_CSV) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "reason", "detail"])
            writer.writerows(report.skipped)
    return report
