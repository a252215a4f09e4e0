"""How fast the app's classical preview is, beside PixelOE: ``python bench/bench_preview.py``.

For each photo (the assets, brought to 1024 x 1024) the three are timed in turn, in one process and
interleaved repetition by repetition, so that a busy machine slows all three alike:

- ``project``: ``pixelart.baselines.classical_pixel_art`` (64 x 64, 16 colours), as the preview calls it
- ``before``: the same with the palette by scikit-learn's k-means (4 inits on the 65k working pixels),
  the implementation this project had before issue 11
- ``pixeloe``: PixelOE's legacy ``pixelize`` (contrast mode, 64 x 64, 16 colours, no upscale);
  ``pip install pixeloe==1.0.0 --no-deps`` (it needs opencv; only this benchmark imports it)

and the palette is scored by the mean colour error (RGB, 0-255) of the working photo mapped to it,
before and after. Prints medians with the machine and appends rows to ``bench/results/preview.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import describe_machine, machine_info, run_scenarios, summarize  # noqa: E402
import pixelart.preparation as preparation  # noqa: E402
from pixelart.baselines import classical_pixel_art  # noqa: E402
from pixelart.palette import map_to_palette, sort_palette  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "preview.csv"
PHOTOS = ("astronaut.jpg", "fashion_polka.jpg", "fashion_stripes.jpg")
SIZE, COLORS = (64, 64), 16
COLUMNS = [
    "timestamp", "scenario", "repeats", "project_median_ms", "project_min_ms", "before_median_ms", "before_min_ms",
    "pixeloe_median_ms", "pixeloe_min_ms", "speedup_vs_pixeloe", "speedup_vs_before", "colour_error_project",
    "colour_error_before", "colours_project", "colours_pixeloe", "load_1min",
    "platform", "python", "cpu", "cpu_count", "torch", "torch_threads", "cuda_device", "diffusers", "transformers",
]


def sklearn_palette(image: np.ndarray, colors: int = 16, *, seed: int = 0) -> np.ndarray:
    """The palette before issue 11: scikit-learn k-means, 4 inits, on every working pixel."""
    from sklearn.cluster import KMeans

    pixels = np.asarray(image, dtype=np.uint8).reshape(-1, 3)
    km = KMeans(n_clusters=colors, n_init=4, random_state=seed).fit(pixels.astype(np.float32))
    return sort_palette(np.unique(np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8), axis=0))


def square_photo(name: str) -> Image.Image:
    """An asset, centre-cropped to a square and resized to 1024 x 1024."""
    img = Image.open(ROOT / "assets" / name).convert("RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((1024, 1024), Image.Resampling.BICUBIC)


def colour_error(work: np.ndarray, palette: np.ndarray) -> float:
    """Mean RGB distance (0-255) of each working pixel to its palette colour."""
    mapped = np.asarray(palette, np.float64)[map_to_palette(work, palette)]
    return float(np.sqrt(np.square(mapped - work.astype(np.float64)).sum(-1)).mean())


def run_one(name: str, repeats: int) -> dict[str, Any]:
    from pixeloe.legacy.pixelize import pixelize

    photo = square_photo(name)
    arr = np.asarray(photo)
    times: dict[str, list[float]] = {"project": [], "before": [], "pixeloe": []}
    new_kmeans = preparation.kmeans_palette
    for _ in range(repeats + 1):  # the first round warms imports and caches; it is not counted
        t0 = time.perf_counter()
        prep, indices = classical_pixel_art(photo, SIZE, colors=COLORS)
        t1 = time.perf_counter()
        preparation.kmeans_palette = sklearn_palette
        try:
            old_prep, _ = classical_pixel_art(photo, SIZE, colors=COLORS)
        finally:
            preparation.kmeans_palette = new_kmeans
        t2 = time.perf_counter()
        art = pixelize(arr, mode="contrast", target_size=SIZE[0], patch_size=1024 // SIZE[0], colors=COLORS,
                       no_upscale=True)
        t3 = time.perf_counter()
        for key, ms in (("project", t1 - t0), ("before", t2 - t1), ("pixeloe", t3 - t2)):
            times[key].append(1000 * ms)
    stats = {k: summarize(v[1:]) for k, v in times.items()}
    return {
        "scenario": name, "repeats": repeats,
        **{f"{k}_{s}_ms": stats[k][s] for k in times for s in ("median", "min")},
        "speedup_vs_pixeloe": stats["pixeloe"]["median"] / stats["project"]["median"],
        "speedup_vs_before": stats["before"]["median"] / stats["project"]["median"],
        "colour_error_project": colour_error(prep.work_array, prep.palette),
        "colour_error_before": colour_error(old_prep.work_array, old_prep.palette),
        "colours_project": len(np.unique(prep.palette[indices].reshape(-1, 3), axis=0)),
        "colours_pixeloe": len(np.unique(np.asarray(art).reshape(-1, 3), axis=0)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="timed repetitions per photo (default 7)")
    p.add_argument("--no-csv", action="store_true", help="print only, do not append to bench/results/preview.csv")
    args = p.parse_args(argv)
    info = machine_info()
    print(describe_machine(info))

    def show(row: dict[str, Any]) -> None:
        print(f"{row['scenario']:<20} project {row['project_median_ms']:7.1f} ms  before {row['before_median_ms']:7.1f} ms"
              f"  pixeloe {row['pixeloe_median_ms']:7.1f} ms  x{row['speedup_vs_pixeloe']:.1f} vs pixeloe"
              f"  colour error {row['colour_error_project']:.2f} (before {row['colour_error_before']:.2f})"
              f"  load {row['load_1min']}")

    run_scenarios(PHOTOS, lambda name: run_one(name, args.repeats), csv_path=None if args.no_csv else RESULTS,
                  columns=COLUMNS, info=info, print_row=show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
