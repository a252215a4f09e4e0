"""Pictures of a clustering: a contact sheet of a cluster's images and a 2-D map coloured by cluster
(PIL only, so they render anywhere without a plotting back end)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def colour(cluster: int) -> str:
    """The colour of a cluster in every picture."""
    return COLOURS[cluster % len(COLOURS)]


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    """A ``side`` x ``side`` thumbnail (centre crop)."""
    from stylize.style_vector import square_crop

    return square_crop(image, side)


def contact_sheet(images: Sequence[Image.Image], *, thumb: int = 128, columns: int = 6,
                  highlight: int | None = None, border: str = "#d62728") -> Image.Image:
    """Thumbnails in a grid; ``highlight`` frames one (the representative) with ``border``."""
    n = max(1, len(images))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    pad = 4
    sheet = Image.new("RGB", (cols * (thumb + pad) + pad, rows * (thumb + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        x, y = pad + (i % cols) * (thumb + pad), pad + (i // cols) * (thumb + pad)
        sheet.paste(thumbnail(image, thumb), (x, y))
        if i == highlight:
            draw.rectangle([x - 2, y - 2, x + thumb + 1, y + thumb + 1], outline=border, width=3)
    return sheet


def cluster_map(coords: np.ndarray, labels: np.ndarray, representatives: Sequence[int], *,
                size: int = 512, title: str = "") -> Image.Image:
    """A scatter plot of 2-D coordinates, one colour per cluster, representatives drawn larger."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    margin = 32
    coords = np.asarray(coords, dtype=np.float64)
    lo, hi = coords.min(axis=0) if len(coords) else np.zeros(2), coords.max(axis=0) if len(coords) else np.ones(2)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    xy = margin + (coords - lo) / span * (size - 2 * margin)
    reps = set(int(r) for r in representatives)
    for i, (x, y) in enumerate(xy):
        r = 8 if i in reps else 4
        y = size - y  # y up
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour(int(labels[i])),
                     outline="black" if i in reps else None, width=2 if i in reps else 1)
    if title:
        draw.text((margin, 8), title, fill="black")
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        draw.rectangle([size - 110, 10 + 16 * c, size - 100, 20 + 16 * c], fill=colour(c))
        draw.text((size - 94, 8 + 16 * c), f"cluster {c}", fill="black")
    return image
