"""Command line: ``python -m pixelart COMMAND ...`` (run, baseline, stops, models, download).

Every command has ``--help``. User errors (bad photo, bad option, missing model) print one line
``error: ...`` and exit with status 2, without a stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from workbench.cli import CommandSet, check_out_file, check_out_folder
from workbench.errors import ConfigError
from workbench.stopping.rules import DEFAULT_PATIENCE

if TYPE_CHECKING:
    from pixelart.config import RunConfig

COMMANDS = CommandSet(
    prog="python -m pixelart",
    description="Fashion photo -> pixel art by score distillation (SD-piXL), with recorded trajectories "
    "and early-stopping strategies.",
    modules=("pixelart.evaluation_cli",),  # modules whose @command functions extend the CLI
)
command = COMMANDS.command


# -- shared argument parsing ---------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    """'64' -> (64, 64); 'WIDTHxHEIGHT' such as '48x64' -> (H, W) = (64, 48)."""
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
        else:
            w = h = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size '{text}' is not N or WIDTHxHEIGHT (e.g. 64 or 48x64)") from None
    return h, w


def strategy_arg(text: str) -> tuple[str, float | None]:
    """'norm_rate' or 'norm_rate=0.3' -> (name, param), as an argparse type."""
    from pixelart.stopping import parse_strategy_spec

    try:
        return parse_strategy_spec(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None




def add_palette_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=parse_size, default=(64, 64), metavar="N|WxH",
                   help="pixel-art size, e.g. 64 or 48x64 (16 to 256 per side; default 64)")
    p.add_argument("--colors", type=int, default=16, help="palette size for k-means on the photo (2-64; default 16)")
    p.add_argument("--palette", type=Path, default=None, metavar="FILE.hex",
                   help="use this Lospec .hex palette instead of k-means")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop",
                   help="bring the photo to the output's aspect ratio by centre crop or by padding (default crop)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    from pixelart.baselines import INIT_METHODS
    from pixelart.config import DTYPES, LATENT_ENCODERS, PARTS_MODES
    from pixelart.models.registry import DIFFUSION_MODELS
    from pixelart.stopping import STRATEGIES

    p.add_argument("photo", type=Path, help="the photo (JPEG, PNG, WebP, ...)")
    p.add_argument("--out", type=Path, required=True, metavar="RUN.bundle",
                   help="trajectory bundle to write; RUN.png, RUN_xF.png and RUN.hex are written beside it")
    p.add_argument("--model", default="sdxl",
                   help=f"diffusion model: {', '.join(DIFFUSION_MODELS)} or a local pipeline folder (default sdxl)")
    p.add_argument("--prompt", default="auto", help="text prompt, or 'auto' to caption the photo (default auto)")
    p.add_argument("--negative-prompt", default="", help="negative prompt (default empty)")
    add_palette_arguments(p)
    p.add_argument("--steps", type=int, default=10_000, help="SDS steps (default 10000, as in the seed)")
    p.add_argument("--guidance-scale", type=float, default=41.0,
                   help="classifier-free guidance scale (default 41: SD-piXL's 40, which counts one less)")
    p.add_argument("--negative-zeros", action="store_true",
                   help="an empty negative prompt gives zero embeddings (diffusers' SDXL default) instead of "
                   "encoding \"\" as SD-piXL does")
    p.add_argument("--schedule", choices=("bounded_max", "uniform"), default="bounded_max",
                   help="timestep schedule (default bounded_max, SD-piXL's)")
    p.add_argument("--lr", type=float, default=0.025, help="learning rate of the logits (default 0.025)")
    p.add_argument("--no-controlnet", action="store_true", help="do not use the model's ControlNets")
    p.add_argument("--encoder", choices=LATENT_ENCODERS, default="taesd",
                   help="differentiable encoder: taesd (TAESD/TAESDXL, SD-piXL's and faster) or the model's vae")
    p.add_argument("--init", choices=INIT_METHODS, default="sdpixl",
                   help="initial frame: sdpixl (torch bilinear from the 1024 photo, as SD-piXL) or a PIL filter")
    p.add_argument("--dtype", choices=DTYPES, default="fp32",
                   help="model precision: fp32 (SD-piXL's, the default) or bf16 / fp16 (faster on a GPU)")
    p.add_argument("--encoders", default="clip,dino",
                   help="semantic encoders to track: clip,dino / clip / dino / none (default clip,dino)")
    p.add_argument("--semantic-every", type=int, default=10,
                   help="embed frames every K steps in one batch (1 = every step; default 10)")
    p.add_argument("--parts", choices=PARTS_MODES, default="auto",
                   help="record per-part norms with the clothes segmenter: auto (when its weights are here), on, off")
    p.add_argument("--stop-on", type=strategy_arg, default=None, metavar="STRATEGY[=PARAM]",
                   help=f"stop the run when this strategy fires: {', '.join(STRATEGIES)}")
    p.add_argument("--patience", type=int, default=DEFAULT_PATIENCE,
                   help="for clip_max/dino_max online: stop once the best step is this many steps old "
                   f"(default {DEFAULT_PATIENCE})")
    p.add_argument("--save-every", type=int, default=500,
                   help="also save the bundle every N steps, so a crash loses little (0 = only at the end)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> "RunConfig":
    """Build a RunConfig from run/batch arguments."""
    from pixelart.config import GeneratorConfig, MetricsConfig, OptimConfig, RunConfig
    from pixelart.config import SDSConfig
    from workbench.palette import hex_codes, read_hex

    encoders = tuple(e for e in args.encoders.split(",") if e and e != "none")  # checked by check_config
    palette_hex = None
    if args.palette is not None:
        palette_hex = hex_codes(read_hex(args.palette))
    return RunConfig(
        model=args.model, prompt=args.prompt, negative_prompt=args.negative_prompt, size=args.size,
        colors=args.colors, palette_hex=palette_hex, steps=args.steps, seed=args.seed, fit=args.fit,
        device=args.device, tiny_vae=args.encoder == "taesd", dtype=args.dtype,
        generator=GeneratorConfig(init_method=args.init),
        guidance=SDSConfig(guidance_scale=args.guidance_scale, negative_zeros=args.negative_zeros,
                           schedule=args.schedule, use_controlnets=not args.no_controlnet),
        optim=OptimConfig(lr=args.lr),
        metrics=MetricsConfig(encoders=encoders, semantic_every=args.semantic_every, parts=args.parts),
    )


@command("run", "turn a photo into pixel art by score distillation, recording the trajectory", _add_run_arguments)
def cmd_run(args: argparse.Namespace) -> int:
    check_out_file(args.out)
    config = config_from_args(args)
    from pixelart.run_files import run_to_bundle

    summary = run_to_bundle(args.photo, config, args.out, stop_on=args.stop_on, patience=args.patience,
                            save_every=args.save_every, quiet=args.quiet)
    d = summary["decision"]
    where = f"{d.strategy} stopped at step {d.step} ({d.reason})" if d else f"last step {summary['chosen_step']}"
    print(f"prompt: {summary['prompt']}")
    print(f"recorded {summary['steps_recorded']} steps to {summary['bundle']}; {where}")
    for kind, path in summary["paths"].items():
        print(f"wrote {path}")
    return 130 if summary["interrupted"] else 0


# -- baseline -------------------------------------------------------------------------------------
def _add_baseline_arguments(p: argparse.ArgumentParser) -> None:
    from pixelart.baselines import DOWNSAMPLERS

    p.add_argument("photo", type=Path, help="the photo")
    p.add_argument("--method", default="all", choices=("all", *DOWNSAMPLERS),
                   help="downsampling before palette mapping (default: all of them)")
    add_palette_arguments(p)
    p.add_argument("--out", type=Path, default=Path("baselines"), metavar="DIR",
                   help="folder for PHOTO_METHOD.png, PHOTO_METHOD_xF.png and PHOTO.hex (default ./baselines)")


@command("baseline", "classical pixelization (downsample + palette) of a photo", _add_baseline_arguments)
def cmd_baseline(args: argparse.Namespace) -> int:
    from pixelart.baselines import DOWNSAMPLERS, pixelize
    from workbench.export import save_hex, save_pixel_art
    from workbench.images import load_photo
    from workbench.palette import read_hex
    from pixelart.preparation import prepare

    check_out_folder(args.out)
    fixed = read_hex(args.palette) if args.palette is not None else None
    prep = prepare(load_photo(args.photo), args.size, colors=args.colors, palette=fixed, fit=args.fit, seed=args.seed)
    photo, out_size, palette = prep.photo, prep.out_size, prep.palette
    methods = list(DOWNSAMPLERS) if args.method == "all" else [args.method]
    for method in methods:
        paths = save_pixel_art(pixelize(photo, out_size, palette, method), palette,
                               args.out / f"{args.photo.stem}_{method}", with_palette=False)
        print(f"{method}: {paths['png']} and {paths['png_upscaled']}")
    print(f"palette ({len(palette)} colours): {save_hex(palette, args.out / f'{args.photo.stem}.hex')}")
    return 0


# -- stops ----------------------------------------------------------------------------------------
def _add_stops_arguments(p: argparse.ArgumentParser) -> None:
    from pixelart.stopping import STRATEGIES

    p.add_argument("bundle", type=Path, help="a trajectory bundle")
    p.add_argument("--strategy", type=strategy_arg, action="append", metavar="NAME[=PARAM]",
                   help=f"strategy to evaluate, repeatable (default: all of {', '.join(STRATEGIES)})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("stops", "print where each stopping strategy stops on a recorded trajectory", _add_stops_arguments)
def cmd_stops(args: argparse.Namespace) -> int:
    from pixelart.stopping import stop_decisions
    from workbench.trajectory import Trajectory

    traj = Trajectory.load(args.bundle)
    rows = []
    for o in stop_decisions(traj.series_map(), args.strategy):
        if o.decision is None:
            reason = f"not recorded in this bundle: {', '.join(o.missing)}"
            rows.append({"strategy": o.name, "param": o.param, "step": None, "fired": False, "reason": reason})
        else:
            d = o.decision
            rows.append({"strategy": o.name, "param": d.param, "step": d.step, "fired": d.fired, "reason": d.reason})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{args.bundle.name}: {len(traj)} recorded steps (0..{len(traj) - 1})")
    print(f"{'strategy':<16}{'param':>10}{'step':>8}  reason")
    for r in rows:
        param = "" if r["param"] is None else f"{r['param']:g}"
        step = "-" if r["step"] is None else str(r["step"])
        print(f"{r['strategy']:<16}{param:>10}{step:>8}  {r['reason']}")
    return 0


# -- models / download ----------------------------------------------------------------------------
def _add_models_arguments(p: argparse.ArgumentParser) -> None:
    pass


@command("models", "list the known models and whether their weights are available here", _add_models_arguments)
def cmd_models(args: argparse.Namespace) -> int:
    from pixelart.models.loading import missing_models
    from pixelart.models.registry import DIFFUSION_MODELS

    missing = missing_models(list(DIFFUSION_MODELS))
    for name, spec in DIFFUSION_MODELS.items():
        state = "ready" if not missing.get(name) else "missing: " + ", ".join(missing[name])
        print(f"{name:<16}{spec.repo_id:<46}{state}")
    return 0


def _add_download_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registry name, e.g. sdxl or sd15")
    p.add_argument("--with-encoders", action="store_true", help="also fetch CLIP, DINOv2 and the captioner")


@command("download", "fetch a model's weights into the Hugging Face cache (needs internet)", _add_download_arguments)
def cmd_download(args: argparse.Namespace) -> int:
    from pixelart.models import loading

    loading.download_model(args.model, with_encoders=args.with_encoders)
    print(f"{args.model}: all weights are in the local cache")
    return 0


# -- entry ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    return COMMANDS.build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run a command; user errors exit 2 with a one-line message."""
    return COMMANDS.main(argv)


def console_main() -> None:
    """Entry point of the installed ``pixelart`` command."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
