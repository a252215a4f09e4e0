"""How far a run's image has drifted from its input: the L2 norm d_t and its increase rate r_t.

Seed 000 §3: d_t = ||x_t - x_input||_2 with both images in RGB [0, 1] at one fixed working resolution,
and r_t = (d_t - d_0) / d_0. Every back end records these two series (``norm`` and ``rate``), so the
norm-based stopping rules, the chart and the evaluation work on any run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from workbench.records import Curve

NORM_CURVES = (
    Curve("norm", "L2 norm d<sub>t</sub>", panel=0, axis_title="L2 norm d<sub>t</sub>", colour="#1f77b4",
          fmt="{:.2f}", caption_label="d<sub>t</sub>"),
    Curve("rate", "increase rate r<sub>t</sub> (right axis)", panel=0, axis_title="rate r<sub>t</sub>", right=True,
          colour="#1f77b4", dash="dot", fmt="{:+.1%}", caption_label="r<sub>t</sub>"),
)
SEMANTIC_CURVES = (
    Curve("clip", "CLIP similarity", panel=1, axis_title="cosine similarity", colour="#d62728", fmt="{:.4f}",
          caption_label="CLIP"),
    Curve("dino", "DINOv2 similarity", panel=1, axis_title="cosine similarity", colour="#2ca02c", fmt="{:.4f}",
          caption_label="DINOv2"),
)
"""How much of the input's meaning a frame keeps: cosine similarity of CLIP / DINOv2 embeddings (seed 000 §3.2)."""


def norm_curves(panel: int = 0) -> tuple[Curve, ...]:
    """The d_t / r_t curves drawn in chart row ``panel`` (the same labels and formats for every back end)."""
    return tuple(dataclasses.replace(c, panel=panel) for c in NORM_CURVES)


def standard_curves(recorded: "list[str] | set[str]") -> tuple[Curve, ...]:
    """The standard curves among the recorded series (for bundles written before runs declared curves)."""
    return tuple(c for c in NORM_CURVES + SEMANTIC_CURVES if c.name in set(recorded))


def l2_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b||_2 over all pixels and channels."""
    return float(np.linalg.norm((np.asarray(a, np.float32) - np.asarray(b, np.float32)).ravel()))


def relative_increase(d: float | np.ndarray, d0: float) -> float | np.ndarray:
    """r = (d - d_0) / d_0, the seed's increase rate (d_0 = 0, an exact start, counts as machine eps)."""
    d0 = d0 if d0 != 0 else np.finfo(np.float64).eps
    return (d - d0) / d0


def increase_rate(norms: np.ndarray) -> np.ndarray:
    """r_t for a whole norm series (d_0 = its first value)."""
    norms = np.asarray(norms, dtype=np.float64)
    return norms if norms.size == 0 else relative_increase(norms, float(norms[0]))


class DriftMeter:
    """d_t and r_t of RGB frames against a fixed input image, at the input image's size.

    Frames of another size are resized (bilinear) to it first; the first frame measured is d_0.
    """

    def __init__(self, input_image: np.ndarray) -> None:
        self.input = np.asarray(input_image, dtype=np.float32) / 255.0
        self.size = self.input.shape[:2]
        self.d0: float | None = None

    def measure(self, frame: np.ndarray) -> dict[str, float]:
        """``{"norm": d_t, "rate": r_t}`` of one (H, W, 3) uint8 frame."""
        frame = np.asarray(frame, dtype=np.uint8)
        if frame.shape[:2] != self.size:
            frame = np.asarray(Image.fromarray(frame).resize(self.size[::-1], Image.Resampling.BILINEAR))
        d = l2_distance(frame.astype(np.float32) / 255.0, self.input)
        if self.d0 is None:
            self.d0 = d
        return {"norm": d, "rate": float(relative_increase(d, self.d0))}
