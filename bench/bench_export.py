"""How long "The run: bundle + animation" takes on a long run: ``python bench/bench_export.py``.

A 10,000-step 64x64 pixel-art trajectory (16 colours; it starts from the classical pixelization of an
example photo and a few pixels change each step, as in a long SDS run; the four chart series) is
exported the way the run panel's download does it: the bundle (``Trajectory.save``) and a GIF or MP4
of ``--frames`` evenly spaced steps (``workbench.export.save_animation``). Prints seconds and file
sizes with the machine, and appends one row per scenario to ``bench/results/export.csv``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import append_csv, describe_machine, machine_info  # noqa: E402
from pixelart.baselines import classical_pixel_art  # noqa: E402
from workbench.drift import NORM_CURVES, SEMANTIC_CURVES  # noqa: E402
from workbench.export import save_animation  # noqa: E402
from workbench.images import load_photo  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "export.csv"
PHOTO = ROOT / "assets" / "fashion_polka.jpg"


def long_run(steps: int = 10_000, size: int = 64, colors: int = 16, seed: int = 0) -> Trajectory:
    """A long pixel-art trajectory with no model: a photo's pixelization drifting a few pixels a step."""
    rng = np.random.default_rng(seed)
    prep, frame = classical_pixel_art(load_photo(PHOTO), (size, size), colors=colors, seed=seed)
    frame = np.array(frame, np.uint8)
    traj = Trajectory(palette=prep.palette, input_image=np.asarray(prep.work), frame_size=(size, size),
                      curves=NORM_CURVES + SEMANTIC_CURVES, frame_label="Pixel art",
                      config={"run_id": "bench-export", "photo_name": PHOTO.name, "total_steps": steps})
    t = np.arange(steps + 1)
    norm = 60 + 25 * (1 - np.exp(-t / 3000)) + rng.normal(0, 0.3, t.size)
    for i in range(steps + 1):
        at = rng.integers(0, size, (4, 2))
        frame[at[:, 0], at[:, 1]] = frame[(at[:, 0] + 1) % size, at[:, 1]]  # a neighbour's colour spreads
        traj.append(frame, {"norm": norm[i], "rate": (norm[i] - norm[0]) / norm[0], "clip": 0.9, "dino": 0.8})
    return traj


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--formats", default="gif,mp4")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    info = machine_info()
    print(describe_machine(info))
    t0 = time.perf_counter()
    traj = long_run(args.steps)
    print(f"built a {args.steps}-step 64x64 trajectory in {time.perf_counter() - t0:.1f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            for repeat in range(args.repeats):
                t0 = time.perf_counter()
                bundle = traj.save(Path(tmp) / f"run{repeat}.bundle")
                t1 = time.perf_counter()
                animation = save_animation(traj, Path(tmp) / f"run{repeat}.{fmt}", max_frames=args.frames,
                                           seconds=args.seconds)
                t2 = time.perf_counter()
                row = dict(date=datetime.date.today().isoformat(), format=fmt, steps=args.steps, frames=args.frames,
                           bundle_s=round(t1 - t0, 2), animation_s=round(t2 - t1, 2), total_s=round(t2 - t0, 2),
                           bundle_mb=round(bundle.stat().st_size / 1e6, 2),
                           animation_mb=round(animation.stat().st_size / 1e6, 2), **info)
                rows.append(row)
                print(f"{fmt} #{repeat}: bundle {row['bundle_s']} s ({row['bundle_mb']} MB) + {args.frames}-frame "
                      f"{fmt.upper()} {row['animation_s']} s ({row['animation_mb']} MB) = {row['total_s']} s")
    append_csv(RESULTS, rows, list(rows[0]))


if __name__ == "__main__":
    main()
