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

from bench.common import describe_machine, machine_info, summarize  # noqa: E402
from stylize.sms.config import SMSConfig  # noqa: E402
from stylize.sms.models import SMSModels, load_sms_models, resolve_model  # noqa: E402
from stylize.sms.run import SMSRun  # noqa: E402
from stylize.sms.style_lora import fuse_style_lora, random_lora_state  # noqa: E402
from workbench.records import StepRecord  # noqa: E402


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="full-size SD 1.5 with random weights")
    p.add_argument("--size", type=int, default=0, help="short side in pixels (default: 64 tiny, 512 full)")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--record-every", type=int, default=10)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)

    info = machine_info()
    print(describe_machine(info))
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
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
    name = "full-size SD 1.5 (random weights)" if args.full else "tiny SD 1.5-shaped"
    stats, walls = summarize(step_ms), summarize(wall)
    print(f"{name}, {run.size[0]}x{run.size[1]} px (latent {tuple(run.source.shape[-2:])}), {device.type}, "
          f"float32, models built/loaded in {load_s:.1f} s")
    print(f"  updates per iteration: median {stats['median'] / 1000:.3f} s; with records "
          f"(frame every {args.record_every}): median {walls['median'] / 1000:.3f} s, mean {walls['mean'] / 1000:.3f} s "
          f"over {len(wall)} timed iterations")
    print(f"  500 iterations at that rate: {500 * walls['mean'] / 1000 / 60:.1f} min")
    if device.type == "cuda":
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
