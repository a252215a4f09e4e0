"""The classical preview's palette: k-means on the colour histogram, as good as scikit-learn's k-means
on every pixel, at most K colours, deterministic, and without scikit-learn (its import alone costs
seconds). Speed itself is measured by bench/bench_preview.py, not asserted here."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pixelart.baselines import classical_pixel_art
from pixelart.palette import colour_histogram, kmeans_palette, map_to_palette

ROOT = Path(__file__).resolve().parents[1]


def _work(name: str) -> np.ndarray:
    return np.asarray(Image.open(ROOT / "assets" / name).convert("RGB").resize((256, 256)), dtype=np.uint8)


def _colour_error(image: np.ndarray, palette: np.ndarray) -> float:
    mapped = palette.astype(np.float64)[map_to_palette(image, palette)]
    return float(np.sqrt(np.square(mapped - image.astype(np.float64)).sum(-1)).mean())


def _sklearn_palette(image: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The independent reference (the palette before issue 11): scikit-learn, 4 inits, every pixel."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(image.reshape(-1, 3).astype(np.float32))
    return np.unique(np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8), axis=0)


def test_palette_maps_photos_no_worse_than_sklearn_kmeans():
    ratios = []
    for name in ("astronaut.jpg", "fashion_polka.jpg", "fashion_stripes.jpg"):
        work = _work(name)
        for k in (6, 16):
            ours = kmeans_palette(work, k, seed=0)
            assert 2 <= len(ours) <= k and len(np.unique(ours, axis=0)) == len(ours)
            ratios.append(_colour_error(work, ours) / _colour_error(work, _sklearn_palette(work, k, seed=0)))
    # k-means finds a local optimum, so single photos vary by a few percent either way; on the whole no worse
    assert np.mean(ratios) <= 1.0 and max(ratios) <= 1.03


def test_palette_is_deterministic_per_seed_and_exact_for_few_colours():
    work = _work("fashion_stripes.jpg")
    assert np.array_equal(kmeans_palette(work, 16, seed=3), kmeans_palette(work, 16, seed=3))
    few = np.array([[0, 0, 0], [250, 10, 10], [10, 250, 10]], np.uint8)[np.arange(64 * 64).reshape(64, 64) % 3]
    assert {tuple(c) for c in kmeans_palette(few, 16)} == {(0, 0, 0), (250, 10, 10), (10, 250, 10)}


def test_histogram_keeps_every_pixel_and_its_mean_colour():
    pixels = np.random.default_rng(0).integers(0, 256, (5000, 3), dtype=np.uint8)
    points, weights = colour_histogram(pixels, 5)
    assert weights.sum() == 5000
    assert np.allclose((points * weights[:, None]).sum(0), pixels.astype(np.float64).sum(0))
    assert np.all((points >= 0) & (points <= 255))


def test_classical_preview_has_at_most_k_colours():
    photo = Image.open(ROOT / "assets" / "astronaut.jpg")
    for k in (4, 16):
        prep, indices = classical_pixel_art(photo, (48, 64), colors=k)
        assert indices.shape == (48, 64) and len(prep.palette) <= k and indices.max() < len(prep.palette)


def test_preview_palette_does_not_import_sklearn():
    code = ("import sys, numpy as np; from pixelart.palette import kmeans_palette; "
            "kmeans_palette(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8), 16); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
