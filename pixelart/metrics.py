"""Per-step metrics of seed 000 §3: L2 norm to the photo, its increase rate, semantic similarity.

Both images are compared at one fixed working resolution in RGB [0, 1]: the pixel art upscaled with
nearest neighbour, the photo resized with a high-quality filter, both to ``NORM_LONG_SIDE`` pixels on
the long side with the pixel art's aspect ratio (256 x 256 for square output).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

if TYPE_CHECKING:  # torch is only needed once an encoder is used
    from pixelart.models.loaded import SemanticEncoder

NORM_LONG_SIDE = 256


def nearest_upscale(indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W[, C]) array to ``size`` (H', W')."""
    h, w = indices.shape[:2]
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return indices[rows][:, cols]


def art_at_working(indices: np.ndarray, palette: np.ndarray, work_size: tuple[int, int]) -> np.ndarray:
    """Pixel art (indices) as float32 RGB in [0, 1] at the working resolution."""
    rgb = np.asarray(palette, dtype=np.float32)[nearest_upscale(indices, work_size)] / 255.0
    return rgb


def cell_index_map(frame_size: tuple[int, int], work_size: tuple[int, int]) -> np.ndarray:
    """(H_work, W_work) int array: which pixel-art cell each working pixel shows (row-major index),
    by the same nearest-neighbour upscale as ``art_at_working``."""
    h, w = frame_size
    return nearest_upscale(np.arange(h * w).reshape(h, w), work_size)


class NormTable:
    """d_t (and RMS distances inside regions such as clothes parts) of any frame to the photo, exact.

    Every working pixel shows one pixel-art cell, so ||x_t - x_input||^2 is a sum over cells of
    ``table[cell, colour of the cell]``, where the table holds, per cell and palette colour, the summed
    squared RGB distance of that colour to the photo's pixels in the cell. Building it costs one pass per
    palette colour; each frame then costs a gather over its cells instead of an upscale to the working
    resolution (about 16x less work at 64 -> 256). Tables that would be too large (very big outputs
    with many colours and regions) fall back to upscaling each frame, with the same numbers.
    """

    MAX_TABLE = 20_000_000  # cells x colours x (1 + regions)
    RESUM_EVERY = 256  # ``series`` re-adds every cell this often, so rounding never accumulates

    def __init__(
        self,
        photo: np.ndarray,
        palette: np.ndarray,
        frame_size: tuple[int, int],
        regions: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.photo = np.asarray(photo, np.float64)[..., :3] / 255.0  # (H_work, W_work, 3)
        self.palette = np.asarray(palette, np.float64) / 255.0
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.work_size = self.photo.shape[:2]
        self.names = list(regions or {})
        self.masks = [np.asarray(regions[n], bool).ravel() for n in self.names]
        self.counts = np.array([m.sum() for m in self.masks], np.float64)
        n_cells = self.frame_size[0] * self.frame_size[1]
        self.table = None
        if n_cells * len(self.palette) * (1 + len(self.names)) <= self.MAX_TABLE:
            self.table = self._build(n_cells)

    def _build(self, n_cells: int) -> np.ndarray:
        cells = cell_index_map(self.frame_size, self.work_size).ravel()
        flat = self.photo.reshape(-1, 3)
        table = np.empty((n_cells, len(self.palette), 1 + len(self.names)))
        for k, colour in enumerate(self.palette):
            sq = np.square(flat - colour).sum(-1)
            table[:, k, 0] = np.bincount(cells, weights=sq, minlength=n_cells)
            for r, mask in enumerate(self.masks, start=1):
                table[:, k, r] = np.bincount(cells[mask], weights=sq[mask], minlength=n_cells)
        return table

    def squared_sums(self, frame: np.ndarray) -> np.ndarray:
        """Summed squared distances (whole image, then each region) of one frame to the photo."""
        if self.table is not None:
            return self.table[np.arange(self.table.shape[0]), np.asarray(frame).ravel()].sum(0)
        rgb = self.palette[nearest_upscale(np.asarray(frame), self.work_size)]
        sq = np.square(rgb - self.photo).sum(-1).ravel()
        return np.array([sq.sum(), *(sq[m].sum() for m in self.masks)])

    def _values(self, sums: np.ndarray) -> dict[str, float]:
        sums = np.maximum(sums, 0.0)
        values = {"norm": float(np.sqrt(sums[0]))}
        values.update({n: float(np.sqrt(sums[r + 1] / self.counts[r])) for r, n in enumerate(self.names)})
        return values

    def measure(self, frame: np.ndarray) -> dict[str, float]:
        """{"norm": d_t, region name: RMS distance inside that region} for one frame."""
        return self._values(self.squared_sums(frame))

    def series(self, frames: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
        """``measure`` of many frames; consecutive SDS frames differ in few cells, so only those
        cells are re-summed between full re-sums."""
        rows, prev, sums = [], None, None
        for i, frame in enumerate(frames):
            frame = np.asarray(frame).ravel()
            if self.table is None or prev is None or i % self.RESUM_EVERY == 0:
                sums = self.squared_sums(frame)
            else:
                changed = np.flatnonzero(frame != prev)
                sums = sums + (self.table[changed, frame[changed]] - self.table[changed, prev[changed]]).sum(0)
            prev = frame
            rows.append(self._values(sums))
        return {name: np.array([row[name] for row in rows]) for name in ["norm", *self.names]}


class SemanticScorer:
    """Cosine similarity of images to the photo under each encoder (embeddings of the photo cached)."""

    def __init__(self, encoders: Mapping[str, "SemanticEncoder"], photo: np.ndarray) -> None:
        self.encoders = dict(encoders)
        self.reference = {name: enc.embed([photo])[0] for name, enc in self.encoders.items()}

    def similarities(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """{encoder name: (B,) cosine similarities} for a batch of uint8 RGB images."""
        out = {}
        for name, enc in self.encoders.items():
            feats = enc.embed(images)
            out[name] = (feats @ self.reference[name].to(feats.device)).cpu().numpy().astype(np.float64)
        return out
