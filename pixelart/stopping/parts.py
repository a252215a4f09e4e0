"""Clothes parts: a label map of the photo and the per-part norm series a part-aware strategy reads.

Seed 000 §5.2 and its conclusion: the annotator stopped as soon as *one* important part (a garment,
an accessory, the face) was lost or wrongly deformed, while the whole-image norm and CLIP / DINOv2
similarity average such a loss away. So each part gets its own series

    d_t^p = sqrt( mean over working pixels i in part p of ||x_t[i] - x_input[i]||^2 )

(the RMS per-pixel RGB distance inside the part, at the same working resolution and in the same
[0, 1] RGB units as the whole-image norm d_t), recorded as ``part:<Label>`` for every label that covers
at least ``MIN_PART_FRACTION`` of the image. A run records them while it goes (``pixelart.metrics.NormTable``);
a bundle recorded without them gets them offline from its frames and its stored (or a user-given)
label map (``part_series``), with the same numbers up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from workbench.errors import ConfigError
from pixelart.metrics import NormTable
from pixelart.models.registry import ATR_LABELS

PART_PREFIX = "part:"
MIN_PART_FRACTION = 0.002  # smaller regions are a few pixel-art pixels: their norm is noise
PART_RATE_FLOOR = 0.02  # RMS floor for d_0^p, so a part that starts almost exact has a finite rate


GARMENTS = ("Upper-clothes", "Skirt", "Pants", "Dress")
ACCESSORIES = ("Hat", "Sunglasses", "Belt", "Bag", "Scarf", "Left-shoe", "Right-shoe")
FACE = ("Face",)
# What the seed's annotator watched; skin, hair and background are left out (they may change freely).
IMPORTANT_PARTS = GARMENTS + ACCESSORIES + FACE


def series_name(label: str) -> str:
    """``part:<Label>``: the series name of one part."""
    return PART_PREFIX + label


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

    def regions(self) -> dict[str, np.ndarray]:
        """{series name: boolean mask at the working resolution} of every tracked part."""
        return {name: self.labels == i for name, i in self.tracked().items()}

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
    """Per-part norm series computed offline from a trajectory's frames (all steps by default), with
    the same ``NormTable`` a run records them with, so the numbers agree."""
    work = traj.input_image.shape[:2]
    if part_map.labels.shape != work:
        raise ConfigError(f"part map {part_map.labels.shape} does not match the working resolution {work}")
    table = NormTable(traj.input_image, traj.palette, traj.frame_size, regions=part_map.regions())
    steps = list(range(len(traj)) if steps is None else steps)
    measured = table.series(traj.frame(t) for t in steps)
    out = {}
    for name in table.names:
        values = np.full(len(traj), np.nan)
        values[steps] = measured[name]
        out[name] = values
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
