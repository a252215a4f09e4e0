"""Files a user takes away: PNGs (native and crisp upscale), ``.hex`` palettes, trajectory animations.

Every write goes through ``workbench.atomic.atomic_path``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from workbench.atomic import atomic_path
from workbench.errors import ConfigError
from workbench.palette import indices_to_rgb, to_hex
from workbench.trajectory import Trajectory

UPSCALE_TARGET = 512  # upscaled exports are at least this many pixels on the long side


def safe_stem(text: str, fallback: str = "run", max_len: int = 80) -> str:
    """A file-name stem of letters, digits, '-', '_' and '.' only, whatever the browser or user sent."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._")[:max_len]
    return stem or fallback


def upscale_factor(size: tuple[int, int], target: int = UPSCALE_TARGET) -> int:
    """The integer factor that brings the long side to at least ``target`` pixels."""
    return max(1, math.ceil(target / max(size)))


def upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Crisp nearest-neighbour upscale by an integer factor."""
    return np.repeat(np.repeat(np.asarray(rgb), factor, axis=0), factor, axis=1)


def save_png(rgb: np.ndarray, path: str | os.PathLike, factor: int = 1) -> Path:
    """Write an RGB array as PNG, optionally upscaled by ``factor``."""
    with atomic_path(path) as tmp:
        Image.fromarray(upscale(np.asarray(rgb, np.uint8), factor)).save(tmp, format="PNG")
    return Path(path)


def save_pixel_art(
    indices: np.ndarray, palette: np.ndarray, stem: str | os.PathLike, *, with_palette: bool = True
) -> dict[str, Path]:
    """Write ``STEM.png`` (native), ``STEM_xF.png`` (upscaled) and ``STEM.hex``; returns the paths."""
    stem = Path(stem)
    rgb = indices_to_rgb(indices, palette)
    factor = upscale_factor(rgb.shape[:2])
    paths = {
        "png": save_png(rgb, stem.parent / f"{stem.name}.png"),
        "png_upscaled": save_png(rgb, stem.parent / f"{stem.name}_x{factor}.png", factor),
    }
    if with_palette:
        paths["hex"] = save_hex(palette, stem.parent / f"{stem.name}.hex")
    return paths


def save_hex(palette: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a ``.hex`` palette atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(to_hex(palette), encoding="utf-8")
    return Path(path)


ANIMATION_MAX_FRAMES = 300  # the most frames an animation may have (a 10,000-step run is spaced out)
ANIMATION_FRAMES = 120  # frames of an animation unless the user picks another count
ANIMATION_SECONDS = 6.0  # how long it plays unless the user picks another duration
_MIN_FRAME_MS = 20  # browsers slow GIF frames shorter than this down to 100 ms
_TEXT_COLOURS = ((255, 255, 255), (0, 0, 0))  # the step label and its outline
TRANSPARENT = 255  # the GIF index of "unchanged since the last frame"; no colour uses it


def animation_steps(num_frames: int, max_frames: int = ANIMATION_FRAMES) -> list[int]:
    """At most ``max_frames`` evenly spaced steps, always including the first and the last."""
    if num_frames <= 0:
        return []
    count = max(1, min(num_frames, max_frames))
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, count)})


def frame_ms(frames: int, seconds: float) -> int:
    """Milliseconds per frame for ``frames`` frames to play in about ``seconds`` (GIF's 10 ms ticks)."""
    return max(_MIN_FRAME_MS, int(round(1000 * seconds / max(1, frames) / 10)) * 10)


def save_animation(
    trajectory: Trajectory,
    path: str | os.PathLike,
    *,
    max_frames: int = ANIMATION_FRAMES,
    seconds: float = ANIMATION_SECONDS,
    with_photo: bool = True,
    on_frame: Callable[[int, int], None] | None = None,
) -> Path:
    """An animated GIF (``.gif``) or MP4 (``.mp4``) of the trajectory, step number written on each frame.

    At most ``max_frames`` recorded steps, evenly spaced, playing in about ``seconds``. With
    ``with_photo`` the input is shown beside the result so the drift is visible. Small frames (pixel
    art) are upscaled with nearest neighbour. GIFs have one global palette: the run's own palette for
    pixel art (plus the photo's colours), else one computed from a few frames; each GIF frame stores
    only what changed. ``on_frame(done, total)`` is called after each frame (a progress bar).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"unsupported animation format '{suffix}': use .gif or .mp4")
    if not 1 <= max_frames <= ANIMATION_MAX_FRAMES:
        raise ConfigError(f"animation frames must be 1 to {ANIMATION_MAX_FRAMES}, not {max_frames}")
    if not 0 < seconds <= 600:
        raise ConfigError(f"animation duration must be above 0 and at most 600 seconds, not {seconds:g}")
    recorded = trajectory.frame_steps
    steps = [recorded[i] for i in animation_steps(len(recorded), max_frames)]
    canvas = _Canvas(trajectory, with_photo)
    ms = frame_ms(len(steps), seconds)
    frames = []
    for i, step in enumerate(steps):
        frames.append(canvas.draw(step))
        if on_frame is not None:
            on_frame(i + 1, len(steps))
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            images = canvas.palette_images(frames)
            # disposal 1: each frame is drawn over the last, its transparent pixels keep what was there
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0,
                           optimize=False, transparency=TRANSPARENT, disposal=1)
        else:
            import imageio.v3 as iio

            rgb = np.stack([_even(canvas.rgb(f)) for f in frames])
            iio.imwrite(tmp, rgb, extension=".mp4", fps=max(1, round(1000 / ms)))
    return path


class _Canvas:
    """Frames of one animation: the input (optional) beside the step's frame, upscaled crisply, the step
    written on the frame's side. Pixel art is drawn in palette indices (the run's palette, then two
    label colours, then the photo's own colours), other frames in RGB."""

    def __init__(self, trajectory: Trajectory, with_photo: bool) -> None:
        self.trajectory = trajectory
        h, w = trajectory.frame_size
        self.factor = upscale_factor((h, w), 256)
        self.size = (h * self.factor, w * self.factor)
        self.indexed = trajectory.palette is not None
        photo = None
        if with_photo:
            photo = Image.fromarray(trajectory.input_image).convert("RGB").resize(self.size[::-1],
                                                                                   Image.Resampling.LANCZOS)
        if self.indexed:
            own = np.asarray(trajectory.palette, np.uint8).reshape(-1, 3)
            self.text_index = (len(own), len(own) + 1)
            colours = [own, np.asarray(_TEXT_COLOURS, np.uint8)]
            self.photo = None
            if photo is not None:
                room = TRANSPARENT - len(own) - len(_TEXT_COLOURS)
                quantized = photo.quantize(max(2, room), dither=Image.Dither.NONE)
                used = np.asarray(quantized.getpalette(), np.uint8).reshape(-1, 3)[:max(2, room)]
                self.photo = np.asarray(quantized, np.uint8) + len(own) + len(_TEXT_COLOURS)
                colours.append(used)
            self.palette = np.concatenate(colours)[:256]
        else:
            self.text_index = _TEXT_COLOURS
            self.photo = None if photo is None else np.asarray(photo)
            self.palette = None

    def draw(self, step: int) -> Image.Image:
        """The canvas at a recorded step ("P" without a palette for pixel art, else RGB)."""
        frame = self.trajectory.frame(step)
        if self.indexed:
            art = upscale(np.asarray(frame, np.uint8), self.factor)
        else:
            art = upscale(np.asarray(frame, np.uint8), self.factor) if self.factor > 1 else np.asarray(frame, np.uint8)
            if art.shape[:2] != self.size:
                art = np.asarray(Image.fromarray(art).resize(self.size[::-1], Image.Resampling.LANCZOS))
        canvas = art if self.photo is None else np.concatenate([self.photo, art], axis=1)
        mode = "L" if self.indexed else "RGB"  # "L": indices, drawn with index "colours"
        image = Image.fromarray(np.ascontiguousarray(canvas), mode)
        # on the frame's side, so that each GIF frame's changed box leaves the photo out
        x = 4 + (self.size[1] if self.photo is not None else 0)
        fill, stroke = self.text_index
        ImageDraw.Draw(image).text((x, 4), f"step {step}", fill=fill, stroke_width=2, stroke_fill=stroke)
        return image

    def palette_images(self, frames: list[Image.Image]) -> list[Image.Image]:
        """The frames as "P" images sharing one palette, each after the first with the pixels it leaves
        unchanged set to ``TRANSPARENT`` (long runs of one index: what LZW compresses best)."""
        if self.indexed:
            palette, indices = self.palette, [np.asarray(f) for f in frames]
        else:  # one palette for the whole animation, from a few frames side by side
            sample = [frames[i] for i in sorted({0, len(frames) // 2, len(frames) - 1})]
            strip = Image.new("RGB", (sum(f.width for f in sample), sample[0].height))
            for i, f in enumerate(sample):
                strip.paste(f, (i * f.width, 0))
            shared = strip.quantize(TRANSPARENT, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            palette = np.asarray(shared.getpalette(), np.uint8).reshape(-1, 3)[:TRANSPARENT]
            indices = [np.asarray(f.quantize(palette=shared, dither=Image.Dither.NONE)) for f in frames]
        flat = np.zeros((256, 3), np.uint8)
        flat[: len(palette)] = palette
        out, previous = [], None
        for current in indices:
            shown = current if previous is None else np.where(current == previous, TRANSPARENT, current)
            image = Image.frombytes("P", shown.shape[::-1], np.ascontiguousarray(shown, np.uint8).tobytes())
            image.putpalette(flat.tobytes())
            out.append(image)
            previous = current
        return out

    def rgb(self, frame: Image.Image) -> np.ndarray:
        """A drawn frame as RGB pixels (the MP4's)."""
        if self.indexed:
            return self.palette[np.asarray(frame)]
        return np.asarray(frame)


def _even(frame: np.ndarray) -> np.ndarray:
    """libx264 needs even width and height."""
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def save_step(trajectory: Trajectory, step: int, stem: str | os.PathLike) -> list[Path]:
    """One recorded step's files: palette frames as native PNG, crisp upscaled PNG and ``.hex``; RGB
    frames as PNG (plus a crisp upscale when the frame is small)."""
    frame = trajectory.frame(step)
    if trajectory.palette is not None:
        paths = save_pixel_art(frame, trajectory.palette, stem)
        return [paths["png"], paths["png_upscaled"], paths["hex"]]
    stem = Path(stem)
    out = [save_png(frame, stem.parent / f"{stem.name}.png")]
    factor = upscale_factor(frame.shape[:2])
    if factor > 1:
        out.append(save_png(frame, stem.parent / f"{stem.name}_x{factor}.png", factor))
    return out


def save_image(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB array as PNG, JPEG or WebP, chosen by the file's suffix (PNG otherwise)."""
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(rgb, np.uint8)).save(tmp, format=fmt)
    return path


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows of dicts as CSV (columns in first-seen order), written atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns or ["empty"])
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
