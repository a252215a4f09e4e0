"""Two checkouts measured side by side in one run: ``python bench/bench_compare.py --before DIR [--after DIR]``.

Made for the workbench-core refactor (issue 7: "scrub latency and per-step engine overhead are not
worse"); ``--before`` is a checkout of the last commit before it (``git worktree add /tmp/before
77b6e95``), ``--after`` this tree by default. Each repetition runs one worker process per tree, in
alternating order (before, after, after, before, ...), with ``PYTHONPATH`` and the working directory set
to that tree, so the machine's load hits both alike. Each worker measures, with that tree's own code:

- ``scrub``: the slider handler (``ui.viewer.view_step``: frame decode, upscale, chart with the step
  marked, caption) on a synthetic 10,000-step 64x64 16-colour run (the tree's
  ``bench_scrub.synthetic_trajectory``), saved and reopened as a bundle: random steps, and consecutive
  steps (dragging the slider); plus random steps of the run still in memory, and gradio's PNG + JSON
  encoding of each answer on top (``+enc``)
- ``frame``: random access to one frame of a reopened bundle: the palette codec at 64x64 (the scrub
  bundle) and 512x512, and, where the tree has it, the RGB PNG codec at 512x512 (issue 7's target:
  <= 30 ms), with the cost of recording one RGB frame
- ``engine``: a ``model="tiny"`` pixel-art run (64x64, 16 colours, CPU) with CLIP/DINOv2 off and on, the
  way the CLI and the app drive it: through ``workbench.loop.RunLoop`` where the tree has one, else by
  iterating ``PixelArtRun`` (whose trajectory grows inside it). ``total`` is each step's wall time,
  ``overhead`` the part outside the networks (total minus render, VAE encode, UNet and backward: the
  metrics, recording and loop). Both trees must make the same frames: the last frame's hash is compared.

Prints, per measurement, the medians over all samples, after/before, and the median (and range) of
the per-repetition ratios, which cancels slow drifts of the machine's load. Rows marked ``[cpu]`` are
the worker's CPU time instead of wall time: with one torch thread (``--threads``, default 1) it barely
moves when other processes take the cores, so on a shared machine it is the steadier comparison.
``--csv`` writes the table too.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKER = "BENCH_COMPARE_RESULT "
NETWORK_STAGES = ("render", "vae_encode", "unet", "backward")
PROJECT_PACKAGES = {"workbench", "pixelart", "stylize", "facegen", "ui", "bench", "app"}
CSV_COLUMNS = [
    "timestamp", "measurement", "unit", "before_median", "after_median", "after_p95", "ratio",
    "paired_ratio_median", "paired_ratio_min", "paired_ratio_max", "reps", "samples_per_rep",
    "before_tree", "after_tree", "load_1min_start", "load_1min_end", "cpu", "cpu_count", "torch",
]

# ---------------------------------------------------------------------------------------------
# Worker: runs inside one tree (PYTHONPATH), imports only that tree's packages


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def _cpu_ms(start: float) -> float:
    # this process's CPU time: unlike wall time, barely moved by other processes taking the cores
    return (time.process_time() - start) * 1e3


def _viewer() -> tuple[Callable[..., Any], type]:
    """The tree's ``view_step`` as f(trajectory, step, cache), and its chart cache class."""
    from ui.viewer import ChartCache, view_step

    try:
        from pixelart.stopping import PIXELART_STRATEGIES
    except ImportError:  # before the workbench core the viewer knew pixel art's strategies itself
        return view_step, ChartCache
    return (lambda traj, step, cache: view_step(traj, step, cache, PIXELART_STRATEGIES)), ChartCache


def measure_scrub(steps: int, samples: int, tmp: Path) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Slider handler ms (and + gradio encoding) on a long synthetic run, and palette frame access."""
    import gradio as gr
    import numpy as np
    from bench.bench_scrub import synthetic_trajectory

    view_step, ChartCache = _viewer()
    t0 = time.perf_counter()
    memory = synthetic_trajectory(steps, 64)
    info: dict[str, Any] = {"scrub_build_s": round(_ms(t0) / 1e3, 2)}
    t0 = time.perf_counter()
    path = memory.save(tmp / "scrub.bundle")
    info["scrub_save_s"] = round(_ms(t0) / 1e3, 2)
    t0 = time.perf_counter()
    bundle = type(memory).load(path)
    info["scrub_load_ms"] = round(_ms(t0), 1)

    n = len(bundle)
    rng = np.random.default_rng(1)
    random_steps = [int(s) for s in rng.integers(0, n, samples)]
    start = int(rng.integers(0, n - samples - 1))
    drag_steps = list(range(start, start + samples))

    out: dict[str, list[float]] = {}
    image_out, plot_out = gr.Image(format="png", render=False), gr.Plot(render=False)
    for name, traj, order in (("bundle-random", bundle, random_steps), ("bundle-drag", bundle, drag_steps),
                              ("memory-random", memory, random_steps)):
        cache = ChartCache()
        for step in order[:5]:  # warm up: imports, the first JSON and PNG encodings
            art, figure, _ = view_step(traj, step, cache)
            image_out.postprocess(art)
            plot_out.postprocess(figure)
        view_step(traj, 0, cache)  # a finished run's chart is built once, when it is first shown
        handler, handler_cpu, total = [], [], []
        for step in order:
            t0, c0 = time.perf_counter(), time.process_time()
            art, figure, _ = view_step(traj, step, cache)
            handler.append(_ms(t0))
            handler_cpu.append(_cpu_ms(c0))
            image_out.postprocess(art)
            plot_out.postprocess(figure)
            total.append(_ms(t0))
        out[f"scrub {name}"], out[f"scrub {name} +enc"] = handler, total
        out[f"scrub {name} [cpu]"] = handler_cpu

    reopened = type(memory).load(path)  # no decoded frame cached yet
    out["frame palette 64x64"] = _frame_access(reopened, random_steps)
    return out, info


def _frame_access(traj: Any, steps: Sequence[int]) -> list[float]:
    times = []
    for step in steps:
        t0 = time.perf_counter()
        traj.frame(step)
        times.append(_ms(t0))
    return times


def measure_frames_512(frames: int, samples: int, tmp: Path) -> dict[str, list[float]]:
    """Random frame access at 512x512 in a reopened bundle: palette frames (every tree) and RGB PNG
    frames (trees whose trajectory has an RGB codec), and the cost of recording one RGB frame."""
    import numpy as np
    from PIL import Image

    try:
        from workbench.trajectory import Trajectory
    except ImportError:
        from pixelart.trajectory import Trajectory

    size, rng, out = 512, np.random.default_rng(2), {}
    steps = [int(s) for s in rng.integers(0, frames, samples)]

    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    photo = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    traj = Trajectory(palette=palette, input_image=photo, frame_size=(size, size), config={"run_id": "bench-p512"})
    frame = rng.integers(0, 16, (size, size), dtype=np.uint8)
    for _ in range(frames):  # ~1% of the pixels change per step, as in a settling SDS run
        flips = rng.integers(0, size, (size * size // 100, 2))
        frame[flips[:, 0], flips[:, 1]] = rng.integers(0, 16, len(flips))
        traj.append(frame, {"norm": 1.0})
    reopened = Trajectory.load(traj.save(tmp / "p512.bundle"))
    out["frame palette 512x512"] = _frame_access(reopened, steps)

    if importlib.util.find_spec("workbench") is None:  # RGB frames came with the workbench core
        return out
    # photograph-like frames: smooth colour fields with fine texture, changing everywhere every step
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    texture = rng.normal(0, 10, (size, size, 3)).astype(np.float32)
    rgb = Trajectory(input_image=photo, frame_size=(size, size), config={"run_id": "bench-rgb512"})
    record = []
    for i in range(frames):
        image = np.clip(base + texture * (1 - i / (2 * frames)) + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
        t0 = time.perf_counter()
        rgb.append(image, {"loss": 1.0 / (i + 1)})
        record.append(_ms(t0))
    reopened = Trajectory.load(rgb.save(tmp / "rgb512.bundle"))
    out["frame rgb-png 512x512"] = _frame_access(reopened, steps)
    out["record rgb-png 512x512"] = record
    return out


def measure_engine(steps: int, warmup: int, encoders: bool) -> tuple[dict[str, list[float]], str]:
    """Per-step ms of a tiny pixel-art run driven as the tree's CLI and app drive it; and the hash
    of its last frame (both trees must compute the same run)."""
    from bench.bench_sds_step import PROMPT, bench_photo
    from pixelart.config import MetricsConfig, RunConfig
    from pixelart.run import PixelArtRun

    config = RunConfig(model="tiny", prompt=PROMPT, size=(64, 64), colors=16, steps=steps, seed=0, device="cpu",
                       metrics=MetricsConfig(encoders=("clip", "dino") if encoders else ()))
    run = PixelArtRun(bench_photo(), config, stage_timings=True)
    try:
        from workbench.loop import RunLoop

        items: Any = RunLoop(run)
    except ImportError:  # before the workbench core: the run recorded its own trajectory
        items = run
    total, total_cpu, overhead, last = [], [], [], None
    iterator = iter(items)
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        item = next(iterator, None)
        ms, cpu_ms = _ms(t0), _cpu_ms(c0)
        if item is None:
            break
        if not hasattr(item, "timings_ms"):  # the RunStart (and a final Flush): not steps
            continue
        last = item.frame
        if item.step > warmup:
            total.append(ms)
            total_cpu.append(cpu_ms)
            overhead.append(ms - sum(item.timings_ms.get(s, 0.0) for s in NETWORK_STAGES))
    label = "encoders on" if encoders else "encoders off"
    digest = hashlib.sha256(last.tobytes()).hexdigest()[:16] if last is not None else ""
    return {f"engine total, {label}": total, f"engine total, {label} [cpu]": total_cpu,
            f"engine overhead, {label}": overhead}, digest


def isolate(tree: Path) -> None:
    """Import the project only from ``tree``: not from this file's folder, and not through an editable
    install (``pip install -e``), whose import hook would hand the before tree the after tree's
    ``workbench`` package."""
    sys.path[:] = [str(tree)] + [p for p in sys.path if p and not p.startswith("__editable__")
                                 and Path(p).resolve() != HERE]
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")
                        and "__editable__" not in getattr(f, "__name__", "")]
    sys.path_importer_cache.clear()


def _check_sources(tree: Path) -> None:
    """Every project module this worker imported came from ``tree``."""
    stray = sorted(name for name, module in list(sys.modules.items())
                   if name.split(".")[0] in PROJECT_PACKAGES and getattr(module, "__file__", None)
                   and not Path(module.__file__).resolve().is_relative_to(tree.resolve()))
    if stray:
        raise SystemExit(f"modules imported from outside {tree}: {', '.join(stray[:5])}")


def worker(args: argparse.Namespace) -> None:
    """Measure everything in this process's tree; print one JSON line after ``MARKER``."""
    import torch

    torch.set_num_threads(args.threads)
    samples: dict[str, list[float]] = {}
    info: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        found, extra = measure_scrub(args.scrub_steps, args.samples, Path(tmp))
        samples.update(found)
        info.update(extra)
        samples.update(measure_frames_512(args.frames_512, args.samples, Path(tmp)))
    for encoders in (False, True):
        found, digest = measure_engine(args.engine_steps, args.warmup, encoders)
        samples.update(found)
        info[f"last_frame_{'on' if encoders else 'off'}"] = digest
    _check_sources(args.worker)
    print(MARKER + json.dumps({"samples": samples, "info": info}), flush=True)


# ---------------------------------------------------------------------------------------------
# Parent: alternates workers over the trees and compares


def describe_tree(tree: Path) -> str:
    """``<commit>`` (``+ uncommitted changes`` when the work tree differs from it), or the folder."""
    try:
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(tree)
    return f"{commit}{' + uncommitted changes' if dirty else ''} ({tree})"


def run_worker(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One worker process in ``tree``; its samples and info."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree),
           "--scrub-steps", str(args.scrub_steps), "--samples", str(args.samples),
           "--frames-512", str(args.frames_512), "--engine-steps", str(args.engine_steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads)]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
    raise SystemExit(f"the worker in {tree} failed (exit {done.returncode})")


def _median(values: Sequence[float]) -> float:
    import numpy as np

    return float(np.median(values)) if len(values) else float("nan")


def compare(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per measurement: pooled medians, their ratio, and the per-repetition ratios."""
    import numpy as np

    names = list(dict.fromkeys(k for r in results["after"] + results["before"] for k in r["samples"]))
    rows = []
    for name in names:
        per_rep = {side: [r["samples"].get(name, []) for r in results[side]] for side in ("before", "after")}
        pooled = {side: [v for rep in reps for v in rep] for side, reps in per_rep.items()}
        row: dict[str, Any] = {
            "measurement": name, "unit": "ms", "reps": len(per_rep["after"]),
            "samples_per_rep": max((len(x) for x in per_rep["after"] + per_rep["before"]), default=0),
            "before_median": _median(pooled["before"]), "after_median": _median(pooled["after"]),
            "after_p95": float(np.percentile(pooled["after"], 95)) if pooled["after"] else float("nan"),
        }
        ratios = [_median(a) / _median(b) for a, b in zip(per_rep["after"], per_rep["before"]) if a and b]
        row["ratio"] = row["after_median"] / row["before_median"] if pooled["before"] else float("nan")
        row["paired_ratio_median"] = _median(ratios)
        row["paired_ratio_min"] = min(ratios, default=float("nan"))
        row["paired_ratio_max"] = max(ratios, default=float("nan"))
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as a fixed-width table."""
    lines = [f"{'measurement (ms)':<34}{'before':>9}{'after':>9}{'after/before':>14}{'per-rep ratio (range)':>28}"]
    for r in rows:
        if r["before_median"] != r["before_median"]:  # NaN: the before tree has no such thing
            lines.append(f"{r['measurement']:<34}{'-':>9}{r['after_median']:>9.2f}{'after only':>14}"
                         f"{'p95 ' + format(r['after_p95'], '.2f'):>28}")
            continue
        paired = f"{r['paired_ratio_median']:.3f} ({r['paired_ratio_min']:.2f}-{r['paired_ratio_max']:.2f})"
        lines.append(f"{r['measurement']:<34}{r['before_median']:>9.2f}{r['after_median']:>9.2f}"
                     f"{r['ratio']:>14.3f}{paired:>28}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, default=None, help="the checkout measured as 'before' (required)")
    p.add_argument("--after", type=Path, default=ROOT, help=f"the checkout measured as 'after' (default {ROOT})")
    p.add_argument("--reps", type=int, default=6, help="workers per tree, alternating (default 6)")
    p.add_argument("--scrub-steps", type=int, default=10_000, help="steps of the scrubbed run (default 10000)")
    p.add_argument("--samples", type=int, default=300, help="scrubs / frame reads per scenario and worker (default 300)")
    p.add_argument("--frames-512", type=int, default=96, help="frames of the 512x512 bundles (default 96)")
    p.add_argument("--engine-steps", type=int, default=60, help="steps of each tiny run (default 60)")
    p.add_argument("--warmup", type=int, default=5, help="first steps of each run not measured (default 5)")
    # one thread by default: on a shared machine, two OpenMP threads waiting for each other at every
    # barrier while other processes hold a core turn a 60 ms step into seconds, at random
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--csv", type=Path, default=None, help="also write the comparison to this CSV")
    p.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)  # internal: measure this tree
    args = p.parse_args(argv)
    if args.worker is None and args.before is None:
        p.error("--before is required")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Alternate workers over the two trees, then print (and optionally write) the comparison."""
    args = parse_args(argv)
    if args.worker is not None:
        isolate(args.worker)
        worker(args)
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.common import describe_machine, load_average, machine_info, timestamp

    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    info = machine_info()
    load_start = load_average()
    started = timestamp()
    print(f"date: {started}")
    print(f"machine: {describe_machine(info)}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min; {info['cpu_count']} cores)")
    print(f"before: {describe_tree(trees['before'])}")
    print(f"after:  {describe_tree(trees['after'])}")
    print(f"{args.reps} repetitions, alternating; workers use {args.threads} torch thread(s); scrub: {args.scrub_steps}-step 64x64 16-colour run, "
          f"{args.samples} scrubs per scenario; engine: model 'tiny', 64x64, {args.engine_steps} steps "
          f"(first {args.warmup} not measured)\n", flush=True)

    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for rep in range(args.reps):
        order = ("before", "after") if rep % 2 == 0 else ("after", "before")
        for side in order:
            t0 = time.perf_counter()
            result = run_worker(trees[side], args)
            results[side].append(result)
            s = result["samples"]
            print(f"rep {rep + 1} {side:<6} {time.perf_counter() - t0:5.0f} s  load {load_average()}  "
                  f"scrub bundle-random {_median(s['scrub bundle-random']):.2f} ms, "
                  f"engine total (off) {_median(s['engine total, encoders off']):.1f} ms", flush=True)

    rows = compare(results)
    load_end = load_average()
    print()
    print(format_table(rows))
    for key in ("last_frame_off", "last_frame_on"):
        hashes = {side: {r["info"][key] for r in results[side]} for side in results}
        same = len(hashes["before"] | hashes["after"]) == 1
        print(f"\nsame last frame in both trees ({key.removeprefix('last_frame_')}): "
              f"{'yes' if same else 'NO'} {sorted(hashes['before'] | hashes['after'])}", end="")
    print()
    for side in results:
        extra = results[side][0]["info"]
        print(f"{side}: the {args.scrub_steps}-step bundle built in {extra['scrub_build_s']} s, saved in {extra['scrub_save_s']} s, "
              f"opened in {extra['scrub_load_ms']} ms (first worker)")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    if args.csv is not None:
        common = {"timestamp": started, "before_tree": describe_tree(trees["before"]),
                  "after_tree": describe_tree(trees["after"]), "load_1min_start": load_start,
                  "load_1min_end": load_end, "cpu": info["cpu"], "cpu_count": info["cpu_count"], "torch": info["torch"]}
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v)
                                 for k, v in {**common, **row}.items()})
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
