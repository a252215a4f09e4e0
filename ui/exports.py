"""The downloads a session offers, written into its own folder with the engine's exporters and named
after the run's photo (``safe_stem``: only safe characters, whatever the browser sent)."""

from __future__ import annotations

from pathlib import Path

from pixelart.export import safe_stem, save_animation, save_pixel_art
from workbench.trajectory import Trajectory

ANIMATION_FORMATS = ("gif", "mp4")


def stem_of(trajectory: Trajectory) -> str:
    """The file-name stem of a trajectory's downloads: its photo's name."""
    return safe_stem(Path(str(trajectory.config.get("photo_name") or "pixelart")).stem)


def export_step(trajectory: Trajectory, step: int, folder: Path) -> list[Path]:
    """One step as PNG (native size), PNG (crisp upscale) and its palette as .hex."""
    paths = save_pixel_art(trajectory.frame(step), trajectory.palette, folder / f"{stem_of(trajectory)}_step{step:05d}")
    return [paths["png"], paths["png_upscaled"], paths["hex"]]


def export_run(trajectory: Trajectory, folder: Path, animation: str = "gif") -> list[Path]:
    """The trajectory bundle (every recorded step) and an animation of it (GIF or MP4)."""
    if animation not in ANIMATION_FORMATS:
        raise ValueError(f"animation format must be one of {ANIMATION_FORMATS}, got {animation!r}")
    stem = stem_of(trajectory)
    bundle = trajectory.save(folder / f"{stem}.bundle")
    movie = save_animation(trajectory, folder / f"{stem}.{animation}")
    return [bundle, movie]
