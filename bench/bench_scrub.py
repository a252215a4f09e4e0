"""How fast the server answers the step slider on a long run: ``python bench/bench_scrub.py``.

A synthetic 10,000-step 64x64 trajectory (16 colours, a few pixels changing per step, the four chart
series and five stopping markers) is scrubbed the way the app's slider handler does it:
``ui.viewer.view_step`` (frame decode, crisp upscale, chart with the step marked, caption), and then
gradio's own serialisation of the answer (the PNG written to its cache, the figure's JSON). Scenarios:

- ``memory-random``: a run still in memory, random steps (worst case: key frame + up to 31 deltas)
- ``bundle-random``: the same trajectory saved and reopened as a bundle (lazy reads from the file)
- ``bundle-drag``: consecutive steps, as when the slider is dragged (one delta per step)
- ``bundle-cold-chart``: random steps with the chart rebuilt every time (the series changed: a
  running trajectory or another marker parameter)

Prints median / p95 milliseconds with the machine, and appends rows to ``bench/results/scrub.csv``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import describe_machine, machine_info, run_scenarios, summarize  # noqa: E402
from workbench.drift import NORM_CURVES, SEMANTIC_CURVES  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from ui.viewer import ChartCache, view_step  # noqa: E402
from pixelart.stopping import PIXELART_STRATEGIES  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scrub.csv"
COLUMNS = [
    "timestamp", "scenario", "steps", "size", "samples", "handler_median_ms", "handler_p95_ms",
    "serialise_median_ms", "serialise_p95_ms", "total_median_ms", "total_p95_ms", "total_max_ms",
    "platform", "python", "cpu", "cpu_count", "torch", "torch_threads", "cuda_device", "diffusers", "transformers",
]


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str  # "memory" or "bundle"
    order: str  # "random" or "drag"
    cold_chart: bool = False


SCENARIOS = (
    Scenario("memory-random", "memory", "random"),
    Scenario("bundle-random", "bundle", "random"),
    Scenario("bundle-drag", "bundle", "drag"),
    Scenario("bundle-cold-chart", "bundle", "random", cold_chart=True),
)


def synthetic_trajectory(steps: int = 10_000, size: int = 64, colors: int = 16, seed: int = 0) -> Trajectory:
    """A trajectory shaped like a long SDS run: pixels drift a few at a time, the norm rises, the
    similarities peak early; no model is involved."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    photo = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    # the curves a pixel-art run with CLIP and DINOv2 declares: without them the chart would be empty
    traj = Trajectory(palette=palette, input_image=photo, frame_size=(size, size),
                      curves=NORM_CURVES + SEMANTIC_CURVES, frame_label="Pixel art",
                      config={"run_id": "bench", "photo_name": "synthetic.png", "total_steps": steps})
    frame = rng.integers(0, colors, (size, size), dtype=np.uint8)
    t = np.arange(steps + 1)
    norm = 60 + 25 * (1 - np.exp(-t / 3000)) + rng.normal(0, 0.3, t.size)
    clip = 0.9 - 0.1 * ((t - 1500) / steps) ** 2 + rng.normal(0, 0.002, t.size)
    dino = 0.85 - 0.15 * ((t - 800) / steps) ** 2 + rng.normal(0, 0.003, t.size)
    for i in range(steps + 1):
        flips = rng.integers(0, size, (8, 2))
        frame[flips[:, 0], flips[:, 1]] = rng.integers(0, colors, 8)
        traj.append(frame, {"norm": norm[i], "rate": (norm[i] - norm[0]) / norm[0], "clip": clip[i], "dino": dino[i]})
    return traj


def measure(traj: Trajectory, scenario: Scenario, samples: int, seed: int = 1) -> dict[str, Any]:
    """Time ``samples`` scrubs: the handler, and gradio's serialisation of its answer."""
    import gradio as gr

    image_out, plot_out = gr.Image(format="png", render=False), gr.Plot(render=False)
    rng = np.random.default_rng(seed)
    n = len(traj)
    if scenario.order == "drag":
        start = int(rng.integers(0, n - samples - 1))
        steps = list(range(start, start + samples))
    else:
        steps = [int(s) for s in rng.integers(0, n, samples)]
    cache = ChartCache()
    for step in steps[:5]:  # warm up: first JSON encoding, PNG encoder, imports
        art, figure, _ = view_step(traj, step, cache, PIXELART_STRATEGIES)
        image_out.postprocess(art)
        plot_out.postprocess(figure)
    view_step(traj, 0, cache, PIXELART_STRATEGIES)  # the chart of a finished run is built once, when it is first shown
    handler, serialise = [], []
    for step in steps:
        if scenario.cold_chart:
            cache = ChartCache()
        t0 = time.perf_counter()
        art, figure, caption = view_step(traj, step, cache, PIXELART_STRATEGIES)
        t1 = time.perf_counter()
        image_out.postprocess(art)
        plot_out.postprocess(figure)
        t2 = time.perf_counter()
        handler.append((t1 - t0) * 1e3)
        serialise.append((t2 - t1) * 1e3)
    total = np.asarray(handler) + np.asarray(serialise)
    h, s, t = (summarize(x, (95,)) for x in (handler, serialise, total))
    return {
        "scenario": scenario.name, "steps": n - 1, "size": f"{traj.frame_size[1]}x{traj.frame_size[0]}",
        "samples": samples,
        "handler_median_ms": h["median"], "handler_p95_ms": h["p95"],
        "serialise_median_ms": s["median"], "serialise_p95_ms": s["p95"],
        "total_median_ms": t["median"], "total_p95_ms": t["p95"], "total_max_ms": t["max"],
    }


def _print(row: dict[str, Any]) -> None:
    print(f"{row['scenario']:<18} handler median {row['handler_median_ms']:6.2f} ms"
          f"  p95 {row['handler_p95_ms']:6.2f} ms"
          f" | + gradio serialisation: median {row['total_median_ms']:6.2f} ms  p95 {row['total_p95_ms']:6.2f} ms"
          f"  (max {row['total_max_ms']:.1f} ms, {row['samples']} scrubs)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="recorded steps (default 10000)")
    parser.add_argument("--size", type=int, default=64, help="pixel-art side (default 64)")
    parser.add_argument("--samples", type=int, default=300, help="scrubs per scenario (default 300)")
    parser.add_argument("--csv", type=Path, default=RESULTS, help=f"CSV to append to (default {RESULTS})")
    parser.add_argument("--no-csv", action="store_true", help="print only")
    args = parser.parse_args(argv)

    info = machine_info()
    print(f"machine: {describe_machine(info)}")
    t0 = time.perf_counter()
    memory = synthetic_trajectory(args.steps, args.size)
    print(f"synthetic trajectory: {len(memory)} frames of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Trajectory.load(memory.save(Path(tmp) / "synthetic.bundle"))
        gc.freeze()  # as app.launch does: start-up objects out of the collector's full passes
        sources = {"memory": memory, "bundle": bundle}
        _, written = run_scenarios(
            SCENARIOS, lambda s: measure(sources[s.source], s, args.samples),
            csv_path=None if args.no_csv else args.csv, columns=COLUMNS, info=info, print_row=_print,
        )
    if written is not None:
        print(f"appended to {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
