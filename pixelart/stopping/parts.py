"""Clothes parts: a label map of the photo and the per-part norm series a part-aware strategy reads.

Seed 000 §5.2 and its conclusion: the annotator stopped as soon as *one* important part (a garment,
an accessory, the face) was lost or wrongly deformed, while the whole-image norm and CLIP / DINOv2
similarity average such a loss away. So each part gets its own series

    d_t^p = sqrt( mean over working pixels i in part p of ||x_t[i] - x_input[i]||^2 )

(the RMS per-pixel RGB distance inside the part, at the same working resolution and in the same
[0, 1] RGB units as the whole-image norm d_t), recorded as ``part:<Label>`` for every label that covers
at least ``MIN_PART_FRACTION`` of the image. A run records them while it goes (``PartMap.norms``);
a bundle recorded without them gets them offline from its frames and its stored (or a user-given)
label map (``part_series``), with the same numbers up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from pixelart.errors import ConfigError
from pixelart.metrics import nearest_upscale

PART_PREFIX = "part:"
MIN_PART_FRACTION = 0.002  # smaller regions are a few pixel-art pixels: their norm is noise
PART_RATE_FLOOR = 0.02  # RMS floor for d_0^p, so a part that starts almost exact has a finite rate

_RESUM_EVERY = 256  # part_series re-adds every cell this often, so rounding never accumulates
_MAX_TABLE = 20_000_000  # cells x colours x parts above which part_series upscales frames instead

# The 18 ATR labels of the clothes segmenter (mattmdjaga/segformer_b2_clothes), id = index; a label
# map drawn by a user as a PNG uses the same ids.
ATR_LABELS: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
    "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf",
)  # fmt: skip
GARMENTS = ("Upper-clothes", "Skirt", "Pants", "Dress")
ACCESSORIES = ("Hat", "Sunglasses", "Belt", "Bag", "Scarf", "Left-shoe", "Right-shoe")
FACE = ("Face",)
# What the seed's annotator watched; skin, hair and background are left out (they may change freely).
IMPORTANT_PARTS = GARMENTS + ACCESSORIES + FACE


def series_name(label: str) -> str:
    """``part:<Label>``: the series name of one part."""
    return PART_PREFIX + label


def cell_index_map(frame_size: tuple[int, int], work_size: tuple[int, int]) -> np.ndarray:
    """(H_work, W_work) int array: which pixel-art cell each working pixel shows (row-major index).

    Built with the same nearest-neighbour upscale the metrics use, so sums over cells equal sums
    over the working-resolution image exactly.
    """
    h, w = frame_size
    return nearest_upscale(np.arange(h * w).reshape(h, w), work_size)


@dataclass(frozen=True)
class PartMap:
    """A label map at the working resolution and the label names (id = index into ``names``)."""

    labels: np.ndarray  # (H_work, W_work) uint8
    names: tuple[str, ...]
    source: str = ""  # the segmenter's id, or where the map came from

    def tracked(self, min_fraction: float = MIN_PART_FRACTION) -> dict[str, int]:
        """{series name: label id} of every label covering at least ``min_fraction`` of the image."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.names))
        need = min_fraction * self.labels.size
        return {series_name(self.names[i]): i for i in range(len(self.names)) if counts[i] > 0 and counts[i] >= need}

    def norms(self, art: np.ndarray, photo: np.ndarray) -> dict[str, float]:
        """RMS per-pixel distance inside each tracked part, for one frame at the working resolution.

        ``art`` and ``photo`` are (H, W, 3) float RGB in [0, 1] (as ``art_at_working`` gives).
        """
        sq = np.square(np.asarray(art, np.float32) - np.asarray(photo, np.float32)).sum(-1)
        sums = np.bincount(self.labels.ravel(), weights=sq.ravel(), minlength=len(self.names))
        counts = np.bincount(self.labels.ravel(), minlength=len(self.names))
        return {name: float(np.sqrt(sums[i] / counts[i])) for name, i in self.tracked().items()}

    def config(self) -> dict[str, Any]:
        """What a trajectory's config records about the map (the map itself goes to extras)."""
        return {"part_labels": list(self.names), "part_source": self.source}

    @classmethod
    def from_trajectory(cls, traj: Any) -> "PartMap | None":
        """The map a run stored in ``extras["parts"]``, or None for bundles recorded without one."""
        labels = traj.extras.get("parts")
        if labels is None:
            return None
        names = tuple(traj.config.get("part_labels") or ATR_LABELS)
        return cls(np.asarray(labels, np.uint8), names, str(traj.config.get("part_source", "bundle")))

    @classmethod
    def from_png(cls, path: str | Path, work_size: tuple[int, int], names: Sequence[str] = ATR_LABELS) -> "PartMap":
        """A user's label map: a single-channel PNG whose pixel values are ATR label ids.

        It is resized (nearest neighbour) to the working resolution, so it may be drawn at any size
        with the photo's aspect ratio after the run's crop.
        """
        try:
            with Image.open(path) as img:
                if img.mode not in ("L", "P", "I", "I;16"):
                    raise ConfigError(
                        f"part mask {Path(path).name} must be a single-channel label PNG (mode {img.mode})"
                    )
                labels = np.asarray(img.resize(work_size[::-1], Image.Resampling.NEAREST))
        except OSError as exc:
            raise ConfigError(f"part mask {Path(path).name} cannot be read ({exc.__class__.__name__})") from None
        if labels.max(initial=0) >= len(names):
            raise ConfigError(f"part mask {Path(path).name} has label {int(labels.max())}; ids go 0..{len(names) - 1}")
        return cls(labels.astype(np.uint8), tuple(names), f"mask file {Path(path).name}")


def segment_parts(photo: Image.Image, work_size: tuple[int, int], *, tiny: bool, device: Any, dtype: Any) -> PartMap:
    """Segment the photo into clothes parts (SegFormer on ATR labels) at the working resolution.

    SegFormer resizes any input to its own size (512 for the real model) and predicts at a quarter
    of that, so the photo at the working resolution loses nothing; the segmenter upsamples its
    logits to that size itself. A photo of another size gets its label map resized (nearest).
    """
    from pixelart.models.loading import load_clothes_segmenter
    from pixelart.models.registry import CLOTHES_SEGMENTER, TINY_CLOTHES_SEGMENTER

    segmenter, id2label = load_clothes_segmenter(tiny=tiny, device=device, dtype=dtype)
    if photo.size != work_size[::-1]:
        photo = photo.resize(work_size[::-1], Image.Resampling.LANCZOS)
    labels = np.asarray(segmenter(photo), dtype=np.uint8)
    small = Image.fromarray(labels)
    if small.size != work_size[::-1]:
        small = small.resize(work_size[::-1], Image.Resampling.NEAREST)
    names = tuple(id2label[i] for i in range(max(id2label) + 1))
    spec = TINY_CLOTHES_SEGMENTER if tiny else CLOTHES_SEGMENTER
    return PartMap(np.asarray(small, np.uint8), names, spec.repo_id)


def part_series(traj: Any, part_map: PartMap, *, steps: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Per-part norm series computed offline from a trajectory's frames (all steps by default).

    For each part, cell and palette colour the squared distance to the photo is summed once; a
    frame's part sums are then a gather over its cells, about 16x less work than upscaling each
    frame to the working resolution and the same numbers.
    """
    tracked = part_map.tracked()
    photo = np.asarray(traj.input_image, np.float64) / 255.0
    work = photo.shape[:2]
    if part_map.labels.shape != work:
        raise ConfigError(f"part map {part_map.labels.shape} does not match the working resolution {work}")
    steps = range(len(traj)) if steps is None else steps
    n_cells = traj.frame_size[0] * traj.frame_size[1]
    if n_cells * len(traj.palette) * len(tracked) > _MAX_TABLE:
        return _part_series_direct(traj, part_map, steps)
    cells = cell_index_map(traj.frame_size, work).ravel()
    palette = np.asarray(traj.palette, np.float64) / 255.0
    part_of_pixel = np.full(part_map.labels.size, -1)
    ids = list(tracked.values())
    for j, label in enumerate(ids):
        part_of_pixel[part_map.labels.ravel() == label] = j
    inside = part_of_pixel >= 0
    key = part_of_pixel[inside] * n_cells + cells[inside]
    # table[cell, colour, part] = sum of ||palette[colour] - photo[i]||^2 over pixels i of the part in the cell
    table = np.empty((n_cells, len(palette), len(ids)))
    flat_photo = photo.reshape(-1, 3)[inside]
    for k, colour in enumerate(palette):
        sq = np.square(flat_photo - colour).sum(-1)
        table[:, k, :] = np.bincount(key, weights=sq, minlength=len(ids) * n_cells).reshape(len(ids), n_cells).T
    counts = np.bincount(part_of_pixel[inside], minlength=len(ids)).astype(np.float64)
    out = np.full((len(ids), len(traj)), np.nan)
    cell_range = np.arange(n_cells)
    prev, sums = None, None
    for i, t in enumerate(steps):
        frame = traj.frame(t).ravel()
        if prev is None or i % _RESUM_EVERY == 0:
            sums = table[cell_range, frame].sum(0)
        else:
            # consecutive SDS frames differ in a few cells: update the sums with those only
            changed = np.flatnonzero(frame != prev)
            sums = sums + (table[changed, frame[changed]] - table[changed, prev[changed]]).sum(0)
        prev = frame
        out[:, t] = np.sqrt(np.maximum(sums, 0.0) / counts)
    return {name: out[j] for j, name in enumerate(tracked)}


def _part_series_direct(traj: Any, part_map: PartMap, steps: Sequence[int]) -> dict[str, np.ndarray]:
    """The plain way (upscale each frame), for outputs so large that the table would not pay off."""
    from pixelart.metrics import art_at_working

    photo = np.asarray(traj.input_image, np.float32) / 255.0
    out = {name: np.full(len(traj), np.nan) for name in part_map.tracked()}
    for t in steps:
        for name, value in part_map.norms(art_at_working(traj.frame(t), traj.palette, photo.shape[:2]), photo).items():
            out[name][t] = value
    return out


def part_rates(series: Mapping[str, np.ndarray], parts: Sequence[str] = IMPORTANT_PARTS) -> dict[str, np.ndarray]:
    """r_t^p = (d_t^p - d_0^p) / max(d_0^p, PART_RATE_FLOOR) for each recorded part among ``parts``."""
    wanted = {series_name(p) for p in parts}
    rates = {}
    for name, values in series.items():
        if name in wanted:
            values = np.asarray(values, np.float64)
            if values.size == 0 or not np.isfinite(values[0]):
                continue
            rates[name[len(PART_PREFIX):]] = (values - values[0]) / max(values[0], PART_RATE_FLOOR)
    return rates


def has_part_series(series: Mapping[str, np.ndarray]) -> bool:
    """Whether any per-part series is present."""
    return any(name.startswith(PART_PREFIX) for name in series)
