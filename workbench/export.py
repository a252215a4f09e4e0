"""Files a user takes away: PNGs (native and crisp upscale), ``.hex`` palettes, trajectory animations.

Every write goes through ``workbench.atomic.atomic_path``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workbench.atomic import atomic_path
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


def animation_steps(num_frames: int, max_frames: int = 200) -> list[int]:
    """At most ``max_frames`` evenly spaced steps, always including the first and the last."""
    if num_frames <= 0:
        return []
    count = min(num_frames, max_frames)
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, count)})


def save_animation(
    trajectory: Trajectory,
    path: str | os.PathLike,
    *,
    max_frames: int = 200,
    fps: int = 20,
    with_photo: bool = True,
) -> Path:
    """An animated GIF (``.gif``) or MP4 (``.mp4``) of the trajectory, step number written on each frame.

    With ``with_photo`` the input is shown beside the result so the drift is visible. Small frames
    (pixel art) are upscaled with nearest neighbour; frames of recorded steps only are used.
    """
    path = Path(path)
    recorded = trajectory.frame_steps
    steps = [recorded[i] for i in animation_steps(len(recorded), max_frames)]
    h, w = trajectory.frame_size
    factor = upscale_factor((h, w), 256)
    photo = None
    if with_photo:
        photo = np.asarray(
            Image.fromarray(trajectory.input_image).resize((w * factor, h * factor), Image.Resampling.LANCZOS)
        )
    frames = []
    for step in steps:
        art = upscale(trajectory.rgb(step), factor)
        if photo is not None and art.shape[:2] != photo.shape[:2]:
            art = np.asarray(Image.fromarray(art).resize(photo.shape[1::-1], Image.Resampling.LANCZOS))
        canvas = np.concatenate([photo, art], axis=1) if photo is not None else art
        img = Image.fromarray(np.ascontiguousarray(canvas))
        ImageDraw.Draw(img).text((4, 4), f"step {step}", fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
        frames.append(img)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(1000 / fps), loop=0)
        elif suffix == ".mp4":
            import imageio.v3 as iio

            arrays = [_even(np.asarray(f)) for f in frames]
            iio.imwrite(tmp, np.stack(arrays), extension=".mp4", fps=fps)
        else:
            raise ValueError(f"unsupported animation format '{suffix}': use .gif or .mp4")
    return path


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
