"""Bundles opened for evaluation: series in memory, cached frames, a fast exact image-norm distance."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from workbench.errors import BundleError
from pixelart.metrics import cell_index_map
from pixelart.stopping import StoppingStrategy
from pixelart.stopping.parts import PartMap, part_rates, part_series
from workbench.trajectory import Trajectory, scan_bundles


class EvalPhoto:
    """A trajectory with its series in memory, cached frames and a fast exact image-norm distance."""

    def __init__(self, traj: Trajectory) -> None:
        self.traj = traj
        self.bundle_id = traj.run_id
        self.name = traj.path.name if traj.path is not None else self.bundle_id
        self.num_steps = len(traj)
        self.series: dict[str, np.ndarray] = traj.series_map()
        self._frames: dict[int, np.ndarray] = {}
        self._distances: dict[tuple[int, int], float] = {}
        work = traj.input_image.shape[:2]
        cells = cell_index_map(traj.frame_size, work)
        # every working pixel shows one cell, so ||x_a - x_b||^2 = sum over cells of
        # (pixels per cell) * ||palette[a] - palette[b]||^2: the metrics' distance, 16x cheaper at 64 -> 256
        self._cell_weight = np.bincount(cells.ravel(), minlength=traj.frame_size[0] * traj.frame_size[1])
        pal = np.asarray(traj.palette, np.float64) / 255.0  # float64: the scores compare small differences
        self._colour_sq = np.square(pal[:, None, :] - pal[None, :, :]).sum(-1)

    def frame(self, step: int) -> np.ndarray:
        """Palette indices of a step (cached: evaluation asks for the same steps many times)."""
        if step not in self._frames:
            self._frames[step] = self.traj.frame(step)
        return self._frames[step]

    def rgb(self, step: int) -> np.ndarray:
        """The pixel art of a step, (H, W, 3) uint8."""
        return np.asarray(self.traj.palette)[self.frame(step)]

    def distance(self, a: int, b: int) -> float:
        """||x_a - x_b||_2 at the working resolution in RGB [0, 1], in float64 (metrics.l2_distance of
        metrics.art_at_working of both frames, without their float32 rounding)."""
        a, b = int(a), int(b)
        if a == b:
            return 0.0
        key = (a, b) if a < b else (b, a)
        if key not in self._distances:
            fa, fb = self.frame(a).ravel(), self.frame(b).ravel()
            self._distances[key] = float(np.sqrt(np.dot(self._cell_weight, self._colour_sq[fa, fb])))
        return self._distances[key]

    def ensure_part_series(self, part_map: PartMap | None = None) -> bool:
        """Give the photo the important parts' series when it was recorded without them (none, or only
        parts such as hair or background): from ``part_map`` or the stored mask."""
        if part_rates(self.series):
            return True
        part_map = part_map or PartMap.from_trajectory(self.traj)
        if part_map is None:
            return False
        self.series.update(part_series(self.traj, part_map))
        return bool(part_rates(self.series))

    def missing_for(self, strategy: StoppingStrategy) -> str | None:
        """Why a strategy cannot be scored on this photo, or None when it can."""
        missing = strategy.missing(self.series)
        return f"not recorded: {', '.join(missing)}" if missing else None


class OpenedPhotos(list):
    """``open_photos``'s list of photos, with a "name: why" line for every bundle of the folder it skipped."""

    def __init__(self, photos: Iterable[EvalPhoto] = (), skipped: Sequence[str] = ()) -> None:
        super().__init__(photos)
        self.skipped = list(skipped)


def open_photos(source: str | os.PathLike | Iterable[str | os.PathLike | Trajectory]) -> OpenedPhotos:
    """Bundles for evaluation: a folder, paths, or opened trajectories.

    A folder is opened leniently (``scan_bundles``): damaged or empty bundles and second copies of a
    run are left out and named in ``skipped`` (``evaluate`` puts them in its notes). Paths and
    trajectories are taken as given: a damaged one, or two of the same run, is an error.
    """
    if isinstance(source, (str, os.PathLike)):
        scan = scan_bundles(source)
        pixel_art = [t for t in scan.trajectories if t.palette is not None]
        skipped = scan.skipped + [f"{t.path.name}: holds RGB frames, not pixel art (evaluate scores pixel-art runs)"
                                  for t in scan.trajectories if t.palette is None]
        if not pixel_art:
            raise BundleError(f"no bundle in {scan.folder} could be opened: " + "; ".join(skipped[:3])
                              + (" …" if len(skipped) > 3 else ""))
        return OpenedPhotos((EvalPhoto(t) for t in pixel_art), skipped)
    trajectories = [p if isinstance(p, Trajectory) else Trajectory.load(p) for p in source]
    for t in trajectories:
        if t.palette is None:
            raise BundleError(f"{t.path.name if t.path else t.run_id} holds RGB frames, not pixel art: "
                              "evaluate scores pixel-art runs")
    photos = OpenedPhotos(EvalPhoto(t) for t in trajectories)
    seen: dict[str, str] = {}
    for p in photos:
        if p.bundle_id in seen:
            raise BundleError(f"{p.name} and {seen[p.bundle_id]} are the same run (run id {p.bundle_id[:8]}…)")
        seen[p.bundle_id] = p.name
    return photos

