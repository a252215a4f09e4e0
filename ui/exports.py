"""The downloads a session offers, written into its own folder with the engine's exporters."""

from __future__ import annotations

import re
from pathlib import Path

from pixelart.export import save_animation, save_pixel_art
from pixelart.trajectory import Trajectory

ANIMATION_FORMATS = ("gif", "mp4")


def file_stem(trajectory: Trajectory, fallback: str = "") -> str:
    """A safe file-name stem from the photo's name (letters, digits, '-' and '_' only)."""
    name = Path(str(trajectory.config.get("photo_name") or fallback or "pixelart")).stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:60]
    return stem or "pixelart"


def export_step(trajectory: Trajectory, step: int, folder: Path, stem: str) -> list[Path]:
    """One step as PNG (native size), PNG (crisp upscale) and its palette as .hex."""
    paths = save_pixel_art(trajectory.frame(step), trajectory.palette, folder / f"{stem}_step{step:05d}")
    return [paths["png"], paths["png_upscaled"], paths["hex"]]


def export_run(trajectory: Trajectory, folder: Path, stem: str, animation: str = "gif") -> list[Path]:
    """The trajectory bundle (every recorded step) and an animation of it (GIF or MP4)."""
    if animation not in ANIMATION_FORMATS:
        raise ValueError(f"animation format must be one of {ANIMATION_FORMATS}, got {animation!r}")
    bundle = trajectory.save(folder / f"{stem}.bundle")
    movie = save_animation(trajectory, folder / f"{stem}.{animation}")
    return [bundle, movie]
