"""Council GAN (facegen) speed: seconds per training iteration and per translation, and peak memory.

Scenarios (random weights, synthetic batches, no data loading):
  tiny-32-c2        tiny widths, 32 × 32, 2 councils, batch 2   (the tests' config)
  tiny-64-c3        tiny widths, 64 × 64, 3 councils, batch 1
  tiny-S-cN         tiny widths, S × S for S in 256, 512, N in 3, 4 councils, batch 1 (the issue's CPU grid)
  baseline-256-c4   the official widths, 256 × 256, 4 councils, batch 3  (seed's baseline)
  proposed-512-c3   the official widths, 512 × 512, 3 councils, batch 1  (seed's proposal)
  full-S-cN         the proposed model's widths at S in 256, 512 and N in 3, 4 councils, batch 1 (GPU grid)
Each scenario runs in a fresh process, so the peak memory (the process's peak RSS on a CPU) is its own.
One iteration is the whole official update: discriminators, council discriminators (council loss on),
generators with the GAN, focus and council losses. A translation is one face through every member
with one z. Peak memory is the CUDA allocator's peak on a GPU, else the process's peak RSS.

    python bench/bench_facegen.py                      # tiny scenarios
    python bench/bench_facegen.py --scenario proposed-512-c3 --steps 2 --warmup 1
    python bench/bench_facegen.py --all --device cuda  # everything, on a GPU
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import describe_machine, machine_info, run_scenarios, summarize  # noqa: E402
from facegen.config import FaceGenConfig, baseline_config, proposed_config, tiny_config  # noqa: E402
from facegen.trainer import Batch, CouncilTrainer  # noqa: E402

CSV = Path(__file__).parent / "results" / "facegen.csv"
COLUMNS = ["timestamp", "scenario", "device", "image_size", "councils", "batch", "params_per_member_M",
           "train_s_median", "train_s_min", "translate_s_median", "translate_s_min", "peak_mem_GiB", "steps",
           "load_1min", "platform", "python", "cpu", "cpu_count", "torch", "torch_threads", "cuda_device",
           "diffusers", "transformers"]


@dataclass(frozen=True)
class Scenario:
    name: str
    config: FaceGenConfig
    tiny: bool


def scenarios() -> list[Scenario]:
    tiny64 = tiny_config(image_size=64, council_size=3).replace(data={"batch_size": 1})
    every_loss = {"council": {"start_at_iter": 0}, "loss": {"focus_loss_start_at_iter": 0}}
    grid = [(size, councils) for size in (256, 512) for councils in (3, 4)]
    return [
        Scenario("tiny-32-c2", tiny_config(), True),
        Scenario("tiny-64-c3", tiny64, True),
        *[Scenario(f"tiny-{size}-c{n}", tiny_config(image_size=size, council_size=n).replace(data={"batch_size": 1}),
                   True) for size, n in grid],
        Scenario("baseline-256-c4", baseline_config().replace(**every_loss), False),
        Scenario("proposed-512-c3", proposed_config().replace(**every_loss), False),
        *[Scenario(f"full-{size}-c{n}", proposed_config().replace(
            data={"image_size": size}, council={"council_size": n, "start_at_iter": 0},
            loss={"focus_loss_start_at_iter": 0}), False) for size, n in grid if (size, n) != (512, 3)],
    ]


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def measure(s: Scenario, device: torch.device, steps: int, warmup: int) -> dict:
    cfg = s.config
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = CouncilTrainer(cfg, device)
    size, b = cfg.data.image_size, cfg.data.batch_size
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.rand(b, 3, size, size, generator=g) * 2 - 1, torch.rand(b, 3, size, size, generator=g) * 2 - 1)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train, trans = [], []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        losses = trainer.step(10 + i, [batch] * cfg.dis.relative_iterations)
        sync()
        if i >= warmup:
            train.append(time.perf_counter() - t0)
        assert all(v == v for v in losses.values()), "a loss is NaN"
    z = torch.randn(1, cfg.gen.style_dim, 1, 1, generator=g)
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        trainer.translate(batch.faces[:1], z)
        sync()
        if i >= warmup:
            trans.append(time.perf_counter() - t0)
    per_member = sum(p.numel() for m in (trainer.gens[0], trainer.dis[0], trainer.dis_council[0]) for p in m.parameters())
    tr, tl = summarize(train), summarize(trans)
    return {"scenario": s.name, "device": str(device), "image_size": size, "councils": cfg.council.council_size,
            "batch": b, "params_per_member_M": per_member / 1e6, "train_s_median": tr["median"], "train_s_min": tr["min"],
            "translate_s_median": tl["median"], "translate_s_min": tl["min"], "peak_mem_GiB": peak_memory_gib(device),
            "steps": steps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", help="scenario name (repeatable); default: the tiny ones")
    p.add_argument("--all", action="store_true")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-csv", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    known = {s.name: s for s in scenarios()}
    if args.all:
        chosen = list(known.values())
    elif args.scenario:
        unknown = [n for n in args.scenario if n not in known]
        if unknown:
            p.error(f"unknown scenario {unknown[0]}; choose from {', '.join(known)}")
        chosen = [known[n] for n in args.scenario]
    else:
        chosen = [s for s in known.values() if s.tiny]
    device = torch.device(args.device)

    def show(row: dict) -> None:
        print(f"{row['scenario']:16s} {row['device']:5s} train {row['train_s_median']:.3f} s/it (min "
              f"{row['train_s_min']:.3f})  translate {row['translate_s_median']:.3f} s (min {row['translate_s_min']:.3f})  "
              f"peak {row['peak_mem_GiB']:.2f} GiB  {row['params_per_member_M']:.2f} M params/member  load "
              f"{row['load_1min']}", flush=True)

    if len(chosen) > 1:  # one process per scenario: each one's peak memory is its own
        for s in chosen:
            command = [sys.executable, __file__, "--scenario", s.name, "--steps", str(args.steps), "--warmup",
                       str(args.warmup), "--device", args.device, *(["--no-csv"] if args.no_csv else []),
                       *(["--threads", str(args.threads)] if args.threads else [])]
            if subprocess.run(command).returncode != 0:
                return 1
        return 0
    info = machine_info()
    print(describe_machine(info))
    run_scenarios(chosen, lambda s: measure(s, device, args.steps, args.warmup), csv_path=None if args.no_csv else CSV,
                  columns=COLUMNS, info=info, print_row=show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
