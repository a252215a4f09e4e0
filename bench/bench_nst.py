"""Speed of Gatys style transfer and of style-vector indexing: ``python bench/bench_nst.py``.

Scenarios: seconds per optimizer iteration (one L-BFGS iteration = one forward + backward through
VGG19 up to conv5_1, as the run does it) for the tiny VGG and for a full-size VGG19 with random weights
(the cost does not depend on the weights' values), at 256 and 512 px, on the CPU and, when there is
one, on the GPU; and style-vector indexing throughput (images/s at 224 px, batches of 16).

The first iteration of each scenario is a warm-up and not counted. Prints one row per scenario with
the machine, and appends them to ``bench/results/nst.csv``. The issue's GPU target is 300 L-BFGS
iterations at 512 px in under 15 s on an H100-class GPU (0.05 s per iteration); ``--gpu-full``
runs those 300 iterations and reports the wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import describe_machine, machine_info, run_scenarios, summarize  # noqa: E402

COLUMNS = ["timestamp", "scenario", "model", "device", "side", "iterations", "median_s", "min_s", "max_s",
           "images_per_s", "total_s", "load_1min", "platform", "cpu", "cpu_count", "torch", "torch_threads",
           "cuda_device"]


@dataclass(frozen=True)
class Scenario:
    kind: str  # "nst" or "vectors"
    model: str  # "tiny" or "vgg19-random"
    device: str
    side: int
    iterations: int


_MODELS: dict = {}


def _model(name: str, device: str):
    key = (name, device)
    if key not in _MODELS:
        from stylize.nst.layers import TINY_CFG, VGG19_CFG
        from stylize.nst.vgg import random_vgg

        cfg = TINY_CFG if name == "tiny" else VGG19_CFG
        _MODELS[key] = random_vgg(cfg, seed=0, label=name).to(device).eval().requires_grad_(False)
    return _MODELS[key]


def _images(side: int, count: int = 1):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (side, side, 3), dtype=np.uint8) for _ in range(count)]


def run_one(s: Scenario) -> dict:
    import torch

    from stylize.nst.config import NSTConfig
    from stylize.nst.run import NSTRun
    from workbench.records import StepRecord

    vgg = _model(s.model, s.device)
    row = {"scenario": s.kind, "model": s.model, "device": s.device, "side": s.side, "iterations": s.iterations}
    if s.kind == "vectors":
        from PIL import Image

        from stylize.style_vector import style_vectors

        images = [Image.fromarray(a) for a in _images(s.side, 16)]
        style_vectors(images[:2], vgg, size=224)  # warm-up
        if s.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(s.iterations):
            style_vectors(images, vgg, size=224, batch_size=16)
        if s.device == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - t0
        return {**row, "images_per_s": round(16 * s.iterations / total, 2), "total_s": round(total, 3)}
    content, style = _images(s.side, 2)
    cfg = NSTConfig(model="tiny" if s.model == "tiny" else "vgg19", iterations=s.iterations + 1, max_side=s.side, device=s.device)
    run = NSTRun(content, [style], cfg, vgg=vgg)
    t0 = time.perf_counter()
    times = [r.timings_ms["step"] / 1000 for r in run if isinstance(r, StepRecord) and r.timings_ms.get("step")]
    total = time.perf_counter() - t0
    stats = summarize(times[1:])  # the first iteration warms up
    return {**row, "median_s": round(stats["median"], 4), "min_s": round(stats["min"], 4),
            "max_s": round(stats["max"], 4), "total_s": round(total, 2)}


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per CPU scenario (full VGG19)")
    parser.add_argument("--gpu-full", action="store_true", help="on a GPU, time the 300-iteration 512 px target")
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"),
                        help="where to measure (default all: the CPU, and the GPU when there is one)")
    parser.add_argument("--csv", default=str(ROOT / "bench" / "results" / "nst.csv"), help="'' to write nothing")
    args = parser.parse_args(argv)
    info = machine_info()
    print(describe_machine(info))
    scenarios = []
    devices = [d for d in ("cpu", "cuda") if args.device in ("all", d) and (d == "cpu" or torch.cuda.is_available())]
    for device in devices:
        for model in ("tiny", "vgg19-random"):
            for side in args.sides:
                n = 20 if model == "tiny" else (args.iterations if device == "cpu" else 30)
                scenarios.append(Scenario("nst", model, device, side, n))
        scenarios.append(Scenario("vectors", "tiny", device, 224, 4))
        scenarios.append(Scenario("vectors", "vgg19-random", device, 224, 1 if device == "cpu" else 8))
    if args.gpu_full and torch.cuda.is_available():
        scenarios.append(Scenario("nst", "vgg19-random", "cuda", 512, 300))

    def show(row):
        if row["scenario"] == "vectors":
            print(f"style vectors  {row['model']:13s} {row['device']:4s} 224 px: {row['images_per_s']} images/s")
        else:
            print(f"nst iteration  {row['model']:13s} {row['device']:4s} {row['side']} px: median {row['median_s']} s "
                  f"(min {row['min_s']}, max {row['max_s']}; {row['iterations']} timed, total {row['total_s']} s)")

    run_scenarios(scenarios, run_one, csv_path=Path(args.csv) if args.csv else None, columns=COLUMNS,
                  info=info, print_row=show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
