"""Commands of the style-transfer engine: ``nst`` (run a transfer), ``models`` and ``download``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stylize.cli import check_out_file, command, csv_list, float_list
from stylize.stopping import STYLE_STRATEGIES, add_stop_on
from workbench.stopping import stop_reason
from stylize.nst.config import COLOR_MODES, DEVICES, HISTOGRAM_TRANSFORMS, INITS, OPTIMIZERS, POOLINGS, NSTConfig
from stylize.nst.models import VGG_MODELS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def add_nst_options(p: argparse.ArgumentParser) -> None:
    """The NSTConfig options as flags (shared by ``nst`` and ``clusters --stylize``)."""
    d = NSTConfig()
    p.add_argument("--model", default=d.model, help=f"VGG19 weights: {', '.join(VGG_MODELS)}, a .safetensors file/folder or a hub id (default {d.model})")
    p.add_argument("--iterations", type=int, default=d.iterations, help=f"optimizer iterations in all (default {d.iterations})")
    p.add_argument("--max-side", type=int, default=d.max_side, help=f"cap on the content's long side in px (default {d.max_side})")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="α (default 1)")
    p.add_argument("--style-weight", type=float, default=d.style_weight, help="β; β/α is the style/content ratio (default 1e6)")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight, help="γ, total variation (default 0)")
    p.add_argument("--content-layers", type=csv_list, default=d.content_layers, help="default conv4_2")
    p.add_argument("--style-layers", type=csv_list, default=d.style_layers, help="default conv1_1,conv2_1,conv3_1,conv4_1,conv5_1")
    p.add_argument("--style-layer-weights", type=float_list, default=None, help="one weight per style layer (default 1 each)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=None, help="step size (default 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--line-search", action="store_true", help="strong-Wolfe line search for L-BFGS")
    p.add_argument("--init", choices=INITS, default=d.init, help=f"initial image (default {d.init})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--color-mode", choices=COLOR_MODES, default=d.color_mode,
                   help="colours (Gatys et al. 2016): none = the style's; swap = content chroma put back after the "
                        "transfer (YIQ); luminance = transfer on luminance only, recombined with the content's "
                        "chroma; histogram = style colours matched to the content's mean and covariance first "
                        f"(default {d.color_mode})")
    p.add_argument("--histogram-transform", choices=HISTOGRAM_TRANSFORMS, default=d.histogram_transform,
                   help="A of --color-mode histogram: sqrt = Σc^½ Σs^-½ (symmetric roots), cholesky = Lc Ls⁻¹ "
                        f"(default {d.histogram_transform})")
    p.add_argument("--original-colors", action="store_true", help="old spelling of --color-mode swap")
    p.add_argument("--style-blend", type=float_list, default=None, help="weights of the style images, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=float, default=d.style_scale, help="style size relative to the content (default 1)")
    p.add_argument("--scales", type=int, default=d.num_scales, help="coarse-to-fine scales (default 1)")
    p.add_argument("--pooling", choices=POOLINGS, default=d.pooling)
    p.add_argument("--before-relu", action="store_true", help="take conv outputs before their ReLU")
    p.add_argument("--device", choices=DEVICES, default=d.device)
    p.add_argument("--record-every", type=int, default=d.record_every, help="keep a frame every k-th step")


def config_from_args(args: argparse.Namespace) -> NSTConfig:
    """NSTConfig from the flags of ``add_nst_options`` (checked by the run)."""
    return NSTConfig(
        model=args.model, iterations=args.iterations, max_side=args.max_side, content_layers=tuple(args.content_layers),
        style_layers=tuple(args.style_layers), style_layer_weights=args.style_layer_weights,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        optimizer=args.optimizer, lr=args.lr, line_search=args.line_search, init=args.init, seed=args.seed,
        color_mode=_color_mode(args), histogram_transform=args.histogram_transform, style_blend=args.style_blend, style_scale=args.style_scale,
        num_scales=args.scales, pooling=args.pooling, after_relu=not args.before_relu, device=args.device,
        record_every=args.record_every,
    )


def _color_mode(args: argparse.Namespace) -> str:
    """--color-mode, with the old --original-colors accepted as 'swap' (a conflict is one line)."""
    from workbench.errors import ConfigError

    if not getattr(args, "original_colors", False):
        return args.color_mode
    if args.color_mode not in ("none", "swap"):
        raise ConfigError(f"--original-colors means --color-mode swap, not {args.color_mode}; give only --color-mode")
    return "swap"


def _nst_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("content", help="content image")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s); several are blended")
    p.add_argument("--out", required=True, help="the stylised image (.png or .jpg)")
    p.add_argument("--bundle", default=None, help="also save the run's trajectory bundle (every recorded step)")
    p.add_argument("--save-every", type=int, default=0, help="save the bundle every N steps too (0: at the end)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_stop_on(p)
    add_nst_options(p)


def run_transfer(content, styles, config: NSTConfig, *, out: Path, bundle: Path | None = None,
                 save_every: int = 0, progress: bool = True, names=None,
                 stop_on: tuple[str, float | None] | None = None) -> "object":
    """Run one transfer through the workbench loop (Ctrl-C keeps the steps made), save the last frame
    to ``out`` and the bundle; returns the loop's ``RunResult``."""
    from stylize.nst.run import NSTRun
    from workbench.export import save_image
    from workbench.progress import run_with_progress

    run = NSTRun(content, styles, config, names=names)
    strategy = STYLE_STRATEGIES.live(*stop_on) if stop_on is not None else None
    result = run_with_progress(run, out=bundle, save_every=save_every, quiet=not progress, desc="nst",
                               strategy=strategy, postfix=lambda m: f"loss {m['loss']:.4g}")
    traj = result.trajectory
    if len(traj):
        save_image(traj.rgb(result.chosen_step), out)
    return result


@command("nst", "Gatys et al. neural style transfer: CONTENT STYLE [STYLE ...] --out OUT.png", _nst_arguments)
def nst_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    config.check(num_styles=len(args.styles))
    out = check_out_file(Path(args.out), "--out", IMAGE_SUFFIXES)
    bundle = check_out_file(Path(args.bundle), "--bundle") if args.bundle else None
    result = run_transfer(args.content, args.styles, config, out=out, bundle=bundle, save_every=args.save_every,
                          progress=not args.quiet, names=[Path(s).name for s in args.styles], stop_on=args.stop_on)
    steps = len(result.trajectory) - 1
    how = " (interrupted: steps so far kept)" if result.interrupted else ""
    if result.decision is not None:
        how += f"; {stop_reason(result.decision, steps)}: the image is that step's"
    print(f"wrote {out} after {steps} iteration(s){how}" + (f"; bundle {bundle}" if bundle else ""))
    return 130 if result.interrupted else 0


def _download_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="vgg19", help=f"registry name or hub id (default vgg19; known: {', '.join(VGG_MODELS)})")


@command("download", "Fetch VGG19 weights into the Hugging Face cache (needs internet)", _download_arguments)
def download_command(args: argparse.Namespace) -> int:
    from stylize.nst.models import weights_file

    print(weights_file(args.name))
    return 0


def _models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


@command("models", "List the VGG19 weights this engine knows and whether they are here", _models_arguments)
def models_command(args: argparse.Namespace) -> int:
    from workbench.hub import hub_cache_dir

    rows = []
    for spec in VGG_MODELS.values():
        here = spec.tiny or _cached(spec.repo_id, spec.filename, hub_cache_dir())
        rows.append({"name": spec.name, "repo_id": spec.repo_id, "file": spec.filename, "available": bool(here),
                     "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:8s} {'here   ' if r['available'] else 'missing'} {r['repo_id']}  {r['description']}")
    return 0


def _cached(repo_id: str, filename: str, cache: Path) -> bool:
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(repo_id, filename, cache_dir=cache, local_files_only=True)
        return True
    except Exception:
        return False
