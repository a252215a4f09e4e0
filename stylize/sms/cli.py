"""``python -m stylize sms`` (or ``python -m stylize.sms``): stylize one image with SMS.

    python -m stylize sms photo.jpg --style-lora ghibli.safetensors --style "ghibli style" \
        [--prompt "a photo of a man" | --prompt auto] [--lambda-psr 5e-4] [--steps 500] --out out.png

Every option is checked and the image read before any model loads; user errors print one line
``error: ...`` and exit with status 2. Ctrl-C stops the run, keeps the steps made so far (the image
of the last recorded step is saved) and exits with 130. ``--bundle`` also saves the trajectory.

    python -m stylize sms-sweep photo.jpg --style-lora ghibli.safetensors --style "ghibli style" \
        --lambdas 1e-5,1e-4,1e-3,1e-2 [--size 512] [--clip none] --out sweep/

runs once per λ with the same seed and writes ``lambda_<λ>.png``, ``grid.png`` and ``figures.csv``
(``stylize.sms.sweep``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from stylize.sms.config import AUTO_PROMPT, DEVICES, DTYPES, LORA_TARGETS, MODELS, SMSConfig
from stylize.cli import command
from stylize.stopping import STYLE_STRATEGIES, add_stop_on
from workbench.cli import run_handler
from workbench.export import save_image
from workbench.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``sms`` command's options (also used by the ``stylize`` command registry)."""
    a = parser.add_argument
    a("content", help="the content image")
    add_stop_on(parser)
    a("--out", required=True, help="the stylized image (.png, .jpg, .webp)")
    a("--lambda-psr", type=float, default=SMSConfig().lambda_psr, help="PSR weight: content (high) vs style (low)")
    add_run_options(parser)
    a("--bundle", default=None, help="also save the run's trajectory bundle here")
    a("--quiet", action="store_true", help="no progress lines")
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every SMS run takes (``sms`` and ``sms-sweep``), all but the content, λ and outputs."""
    d = SMSConfig()
    a = parser.add_argument
    a("--style-lora", required=True, help="style LoRA: .safetensors file, folder, hub id "
      "(org/name or org/name:file.safetensors), or 'tiny' with --model tiny-sd")
    a("--style", default=d.style, help=f"style words; prompt '{{style}}, {{caption}}' (default: {d.style!r})")
    a("--prompt", default=d.prompt, help=f"content caption, or '{AUTO_PROMPT}' to caption with BLIP (default)")
    a("--steps", type=int, default=d.steps)
    a("--model", default=d.model, help=f"base SD 1.5: {', '.join(MODELS)}, a pipeline folder or a hub id")
    a("--style-model", default=d.style_model, help="SD 1.5 fine-tune the style LoRA sits on (default: --model)")
    a("--lora-strength", type=float, default=d.lora_strength)
    a("--guidance-scale", type=float, default=d.guidance_scale)
    a("--lr", type=float, default=d.lr)
    a("--warmup-steps", type=int, default=d.warmup_steps)
    a("--lora-rank", type=int, default=d.lora_rank, help="fake-score LoRA rank")
    a("--lora-alpha", type=float, default=d.lora_alpha, help="fake-score LoRA alpha")
    a("--lora-targets", default=",".join(d.lora_targets),
      help=f"fake-score LoRA layers, comma-separated from {','.join(LORA_TARGETS)}")
    a("--lora-lr", type=float, default=d.lora_lr)
    a("--no-sagr", action="store_true", help="turn Semantic-Aware Gradient Refinement off (R = 1)")
    a("--resolution", type=int, default=d.resolution, help="short side in pixels (0: the model's, 512)")
    a("--seed", type=int, default=d.seed)
    a("--record-every", type=int, default=d.record_every, help="decode a frame every k steps")
    a("--device", default=d.device, choices=DEVICES)
    a("--dtype", default=d.dtype, choices=DTYPES)
    return parser


def config_from_args(args: argparse.Namespace, lambda_psr: float | None = None) -> SMSConfig:
    """The checked run config for parsed arguments (``lambda_psr`` given: instead of ``--lambda-psr``)."""
    targets = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    return SMSConfig(
        style_lora=args.style_lora, style=args.style, prompt=args.prompt, model=args.model,
        style_model=args.style_model, lora_strength=args.lora_strength,
        lambda_psr=args.lambda_psr if lambda_psr is None else lambda_psr,
        steps=args.steps, lr=args.lr, warmup_steps=args.warmup_steps, guidance_scale=args.guidance_scale,
        lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_targets=targets, lora_lr=args.lora_lr,
        sagr=not args.no_sagr, resolution=args.resolution, seed=args.seed, record_every=args.record_every,
        device=args.device, dtype=args.dtype,
    ).check()


def _check_out(path: str, suffixes: Sequence[str], what: str) -> Path:
    out = Path(path).expanduser()
    if out.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} '{path}' must end with one of {', '.join(suffixes)}")
    if out.is_dir():
        raise ConfigError(f"{what} '{path}' is a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{what} '{path}': '{parent}' is not a folder")
    return out


def _check_bundle(path: str) -> Path:
    out = Path(path).expanduser()
    if out.is_dir():
        raise ConfigError(f"--bundle '{path}' is a folder; give a file name")
    return out


def run_command(args: argparse.Namespace) -> int:
    """Run ``sms`` for parsed arguments; returns the exit status (UserErrors propagate)."""
    from workbench.images import load_photo

    # 1. Check everything before any model loads
    config = config_from_args(args)
    out = _check_out(args.out, IMAGE_SUFFIXES, "--out")
    bundle = _check_bundle(args.bundle) if args.bundle else None
    content = load_photo(args.content)

    # 2. Load models and run
    from stylize.sms.run import SMSRun

    run = SMSRun(content, config, content_name=Path(args.content).name)
    result = _drive(run, bundle, quiet=args.quiet, stop_on=args.stop_on)

    # 3. Save the last recorded frame
    save_image(result["frame"], out)
    print(f"saved {out} (step {result['step']} of {config.steps})")
    if bundle is not None:
        print(f"saved bundle {bundle}")
    return 130 if result["interrupted"] else 0


def _drive(run: Any, bundle: Path | None, *, quiet: bool,
           stop_on: tuple[str, float | None] | None = None) -> dict[str, Any]:
    """Consume the run through the workbench loop with a progress bar (stopping where ``stop_on``
    fires); the recorded frame at the chosen step."""
    from workbench.progress import run_with_progress

    def postfix(m: dict[str, float]) -> str:
        return (f"t={m.get('t', float('nan')):.0f} d={m.get('norm', float('nan')):.3f} "
                f"psr={m.get('psr_l1', float('nan')):.4f} lora={m.get('loss_lora', float('nan')):.4f}")

    strategy = STYLE_STRATEGIES.live(*stop_on) if stop_on is not None else None
    result = run_with_progress(run, out=bundle, quiet=quiet, desc="sms", postfix=postfix, strategy=strategy)
    traj = result.trajectory
    frame_step = traj.recorded_step(result.chosen_step)
    return {"frame": traj.rgb(frame_step), "step": frame_step, "interrupted": result.interrupted}


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser of ``python -m stylize.sms``."""
    parser = argparse.ArgumentParser(prog="python -m stylize sms", description="Style Matching Score stylization")
    return add_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run; user errors exit 2 with one line."""
    return run_handler(run_command, build_parser().parse_args(argv))


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``sms-sweep`` command's options."""
    from stylize.content_figures import DEFAULT_SIZE

    a = parser.add_argument
    a("content", help="the content image")
    a("--lambdas", required=True, help="comma-separated PSR weights, e.g. 1e-5,1e-4,1e-3,1e-2 (one run each)")
    a("--out", required=True, help="the folder for lambda_<value>.png, grid.png and figures.csv")
    add_run_options(parser)
    a("--size", type=int, default=DEFAULT_SIZE, help="short side (px) at which L2 and SSIM compare to the content")
    a("--clip", default="", help="CLIP model id or folder for the CLIP score to --style, or 'none' "
      "(default: openai/clip-vit-base-patch16; the tiny test CLIP with --model tiny-sd)")
    a("--quiet", action="store_true", help="no progress bars")
    return parser


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``sms-sweep``: one run per λ, same seed; images, grid and figures in ``--out``."""
    from stylize.content_figures import compared_size, format_table
    from stylize.content_figures import Figures
    from stylize.sms.sweep import parse_lambdas, run_sweep
    from workbench.cli import check_out_folder
    from workbench.images import load_photo

    # 1. Check everything before any model loads
    lambdas = parse_lambdas(args.lambdas)
    config = config_from_args(args, lambda_psr=lambdas[0])
    out = check_out_folder(Path(args.out).expanduser())
    content = load_photo(args.content)
    compared_size(content, args.size)  # a bad --size fails now, not after the runs

    # 2. One run per λ
    result = run_sweep(content, config, lambdas, out, content_name=Path(args.content).name, size=args.size,
                       clip=args.clip, drive=lambda run: _drive(run, None, quiet=args.quiet))
    figures = [Figures(r["image"], r["l2_rms"], r["ssim"], r["clip_score"]) for r in result.rows]
    print(format_table(figures, compared_size(content, args.size)))
    if result.clip_note:
        print(result.clip_note)
    return 0


command("sms", "Style Matching Score stylization: CONTENT --style-lora LORA --style WORDS --out OUT.png",
        add_arguments)(run_command)
command("sms-sweep", "SMS λ sweep: CONTENT --style-lora LORA --lambdas 1e-5,1e-4,1e-3 --out FOLDER",
        add_sweep_arguments)(run_sweep_command)
