"""Seconds per SMS iteration (latent step + fake-LoRA step + its records), tiny and full-size SD 1.5.

Each scenario drives the engine's own ``SMSRun``; the first iterations are warm-up, the rest are timed
from the records' ``timings_ms["step"]`` (the two updates and the step's metrics) plus, on frame steps,
the VAE decode. ``--full`` builds SD 1.5's architecture (UNet, VAE, CLIP-L text encoder from
``bench/full_size_configs.py``) with random weights in memory, the style UNet as a copy with a random
LoRA fused in, so the arithmetic is the real model's with no download. On a GPU it also reports the
peak memory.

    python bench/bench_sms.py                        # tiny model, 64 px
    python bench/bench_sms.py --full --size 256 --steps 2 --warmup 1    # full size on a CPU (slow)
    python bench/bench_sms.py --full --size 512 --steps 30 --warmup 5 --device cuda

Every measurement is appended as one row, with the machine's description, to ``bench/results/sms.csv``
(``--no-csv``: print only).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import describe_machine, machine_info, run_scenarios, summarize  # noqa: E402
from stylize.sms.config import SMSConfig  # noqa: E402
from stylize.sms.models import SMSModels, load_sms_models, resolve_model  # noqa: E402
from stylize.sms.run import SMSRun  # noqa: E402
from stylize.sms.style_lora import fuse_style_lora, random_lora_state  # noqa: E402
from workbench.records import StepRecord  # noqa: E402

CSV = Path(__file__).parent / "results" / "sms.csv"
COLUMNS = ["timestamp", "scenario", "device", "size", "latent", "timed_steps", "warmup", "record_every",
           "update_s_median", "update_s_min", "iter_s_median", "iter_s_mean", "min_per_500", "load_s",
           "peak_mem_GiB", "load_1min", "platform", "python", "cpu", "cpu_count", "torch", "torch_threads",
           "cuda_device", "diffusers", "transformers"]


def full_size_models(device: torch.device) -> SMSModels:
    """SD 1.5-sized random models (tokenizer borrowed from the tiny build: any CLIP ids fit)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from bench import full_size_configs as cfgs

    torch.manual_seed(0)
    _, tiny = resolve_model("tiny-sd")
    unet = UNet2DConditionModel(**cfgs.SD15_UNET).to(device).eval().requires_grad_(False)
    style = copy.deepcopy(unet)
    fuse_style_lora(style, random_lora_state(style, rank=16, alpha=16.0, scale=0.01, seed=1), 0.8)
    vae = AutoencoderKL(**cfgs.SD15_VAE).to(device).eval().requires_grad_(False)
    text = CLIPTextModel(CLIPTextConfig(**cfgs.SD15_TEXT_ENCODER)).to(device).eval().requires_grad_(False)
    scheduler = {k: v for k, v in cfgs.SD15_SCHEDULER.items()}
    return SMSModels(tokenizer=CLIPTokenizer.from_pretrained(tiny / "tokenizer"), text_encoder=text, vae=vae,
                     base_unet=unet, style_unet=style, scheduler_config=scheduler, device=device,
                     dtype=torch.float32, model_id="random full-size SD 1.5", style_lora_id="random")


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    """Build (or load) the models, run ``warmup + steps`` iterations and time the last ``steps``."""
    size = args.size or (512 if args.full else 64)
    config = SMSConfig(model="tiny-sd", style_lora="tiny", prompt="a photo", steps=args.steps + args.warmup,
                       resolution=size, record_every=args.record_every, device=device.type).check()
    t0 = time.perf_counter()
    models = full_size_models(device) if args.full else load_sms_models(config)
    load_s = time.perf_counter() - t0
    content = Image.fromarray((np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8))
    run = SMSRun(content, config, models=models)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step_ms, wall = [], []
    last = time.perf_counter()
    for item in run:
        if isinstance(item, StepRecord) and item.step > 0:
            now = time.perf_counter()
            if item.step > args.warmup:
                step_ms.append(item.timings_ms["step"])
                wall.append((now - last) * 1000.0)
            last = now
        elif isinstance(item, StepRecord):
            last = time.perf_counter()
    stats, walls = summarize(step_ms), summarize(wall)
    latent = tuple(run.source.shape[-2:])
    return {
        "scenario": f"{'full' if args.full else 'tiny'}-{size}", "device": device.type,
        "size": f"{run.size[0]}x{run.size[1]}", "latent": f"{latent[0]}x{latent[1]}", "timed_steps": len(wall),
        "warmup": args.warmup, "record_every": args.record_every,
        "update_s_median": stats["median"] / 1000, "update_s_min": min(step_ms) / 1000,
        "iter_s_median": walls["median"] / 1000, "iter_s_mean": walls["mean"] / 1000,
        "min_per_500": 500 * walls["mean"] / 1000 / 60, "load_s": load_s,
        "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="full-size SD 1.5 with random weights")
    p.add_argument("--size", type=int, default=0, help="short side in pixels (default: 64 tiny, 512 full)")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--record-every", type=int, default=10)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-csv", action="store_true", help="print only; append nothing to bench/results/sms.csv")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")

    info = machine_info()
    print(describe_machine(info))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def show(row: dict) -> None:
        name = "full-size SD 1.5 (random weights)" if args.full else "tiny SD 1.5-shaped"
        print(f"{name}, {row['size']} px (latent {row['latent']}), {row['device']}, float32, models built/loaded in "
              f"{row['load_s']:.1f} s")
        print(f"  updates per iteration: median {row['update_s_median']:.3f} s; with records (frame every "
              f"{row['record_every']}): median {row['iter_s_median']:.3f} s, mean {row['iter_s_mean']:.3f} s over "
              f"{row['timed_steps']} timed iterations (load {row['load_1min']})")
        print(f"  500 iterations at that rate: {row['min_per_500']:.1f} min")
        if row["peak_mem_GiB"] != "":
            print(f"  peak GPU memory: {row['peak_mem_GiB']:.2f} GiB")

    _, written = run_scenarios([args], lambda a: measure(a, device), csv_path=None if args.no_csv else CSV,
                               columns=COLUMNS, info=info, print_row=show)
    if written is not None:
        print(f"appended to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
