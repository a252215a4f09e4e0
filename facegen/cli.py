"""Command line: ``python -m facegen prepare | train | translate | fid``."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

from workbench.cli import run_handler
from workbench.errors import ConfigError
from workbench.export import safe_stem


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m facegen", description="Council GAN: anime face → full-body image (seed 001)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a council on a faces folder and a bodies folder")
    t.add_argument("faces", nargs="?", help="folder of face images (domain A); or --faces DIR")
    t.add_argument("bodies", nargs="?", help="folder of full-body images (domain B); or --bodies DIR")
    t.add_argument("--faces", dest="faces_opt", metavar="DIR", help="the face folder, as an option")
    t.add_argument("--bodies", dest="bodies_opt", metavar="DIR", help="the full-body folder, as an option")
    t.add_argument("--config", default="proposed", help="proposed | baseline | official | tiny | a YAML/JSON file")
    t.add_argument("--out", required=True, help="run folder (checkpoints, config.json)")
    t.add_argument("--iterations", type=int, help="total iterations (default: the config's)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's newest good checkpoint")
    t.add_argument("--seed", type=int)
    t.add_argument("--sample-every", type=int)
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--fid-every", type=int)
    t.add_argument("--fid-faces", help="held-out faces translated for FID")
    t.add_argument("--fid-bodies", help="held-out real bodies for FID")
    t.add_argument("--fid-model", help="FID Inception weights: file path, known name or org/repo/file")
    t.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    t.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("translate", help="translate one face into full-body images")
    s.add_argument("face")
    s.add_argument("--checkpoint", required=True, help="run folder, facegen .safetensors, official *_gen_*.pt or their folder")
    s.add_argument("--out", help="PNG contact sheet; each image is saved beside it (default: FACE_body.png here)")
    s.add_argument("--samples", "--num", type=int, default=4, help="random vectors z per member")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--member", default="all", help="council member number or 'all'")
    s.add_argument("--config", help="config of official .pt files (default: official selfie2anime)")
    s.add_argument("--device", default="cpu")

    r = sub.add_parser("prepare", help="full-body images on black, padded square and resized (seed §3.2)",
                       description="Put each full-body image of IN_DIR on a black background (its alpha "
                       "channel, else the background connected to the border within --threshold of the "
                       "background colour), crop to the figure, pad to a centred square, resize to --size "
                       "(Lanczos down, bicubic up) and write PNGs to OUT_DIR; skipped files are listed in "
                       "OUT_DIR/skipped.csv.")
    r.add_argument("in_dir", metavar="IN_DIR")
    r.add_argument("out_dir", metavar="OUT_DIR")
    r.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    r.add_argument("--threshold", type=int, default=24,
                   help="largest R/G/B difference from the background colour that is still background, 0-255 "
                   "(default 24; images without alpha)")
    r.add_argument("--background", default="auto",
                   help="background colour: auto (median of the image border, default), white, black, "
                   "#RRGGBB or R,G,B")
    r.add_argument("--margin", type=float, default=0.02,
                   help="black margin around the figure, a fraction of its long side (default 0.02)")
    r.add_argument("--min-side", type=int, default=64,
                   help="skip figures whose bounding box is shorter than this on its long side (default 64)")
    r.add_argument("--pairs", action="store_true",
                   help="also crop the shoulders-up part: OUT_DIR/faces/ and OUT_DIR/bodies/ with matching names")
    r.add_argument("--face-fraction", type=float, default=0.25,
                   help="with --pairs: the face square's side as a fraction of the figure's height (default 0.25)")
    r.add_argument("--no-progress", action="store_true")

    f = sub.add_parser("fid", help="FID between two image folders")
    f.add_argument("real")
    f.add_argument("fake")
    f.add_argument("--model", default="pt_inception-2015-12-05", help="FID Inception weights (see train --fid-model)")
    f.add_argument("--device", default="cpu")
    return p


def _prepare(args: argparse.Namespace) -> int:
    """Exit status 0 when every image was prepared, 1 when some were skipped (listed in skipped.csv)."""
    from tqdm.auto import tqdm

    from facegen.prepare import PrepareOptions, prepare_folder

    options = PrepareOptions(size=args.size, threshold=args.threshold, background=args.background,
                             margin=args.margin, min_side=args.min_side, pairs=args.pairs,
                             face_fraction=args.face_fraction)
    report = prepare_folder(args.in_dir, args.out_dir, options,
                            progress=lambda files: tqdm(files, desc="prepare", unit="image",
                                                        disable=args.no_progress, dynamic_ncols=True))
    for name, reason, detail in report.skipped:
        print(f"skipped {name}: {reason} ({detail})")
    print(report.summary())
    return 1 if report.skipped else 0


def _folder(positional: str | None, option: str | None, what: str, flag: str) -> str:
    """A folder given either way (``train FACES BODIES`` or ``--faces/--bodies``), once."""
    if positional and option and positional != option:
        raise ConfigError(f"two {what} folders given ({positional} and {flag} {option}): give one")
    if not (positional or option):
        raise ConfigError(f"give the {what} folder: train FACES BODIES --out RUN (or {flag} DIR)")
    return positional or option


def _train(args: argparse.Namespace) -> int:
    from facegen.config import load_config
    from facegen.run import TrainRun

    faces = _folder(args.faces, args.faces_opt, "face", "--faces")
    bodies = _folder(args.bodies, args.bodies_opt, "full-body", "--bodies")
    config = load_config(args.config)
    train = {k: v for k, v in {
        "iterations": args.iterations, "seed": args.seed, "sample_every": args.sample_every,
        "checkpoint_every": args.checkpoint_every, "fid_every": args.fid_every, "fid_model": args.fid_model,
        "device": args.device}.items() if v is not None}
    if train:
        config = config.replace(train=train)
    from facegen.parallel import from_env, teardown

    try:
        parallel = from_env()  # several processes under accelerate launch / torchrun
        run = TrainRun(faces, bodies, config, out_dir=args.out, resume=args.resume,
                       fid_faces_dir=args.fid_faces, fid_bodies_dir=args.fid_bodies, parallel=parallel)
        # under a launcher only rank 0 shows a progress bar (its notes are printed from the RunStart)
        return consume(run, progress=not args.no_progress and parallel.is_main)
    finally:
        teardown()


def consume(run: object, *, progress: bool = True) -> int:
    """Drive a run through the workbench loop with a progress bar; Ctrl-C stops it (its checkpoint is
    kept); exit status 130 then, as for any interrupted command."""
    from workbench.progress import run_with_progress

    def postfix(metrics: dict[str, float]) -> str:
        shown = {k: v for k, v in metrics.items() if k in ("dis", "gen_adv", "council_gen", "gen_total", "fid")
                 and math.isfinite(v)}
        return " ".join(f"{k}={v:.3g}" for k, v in shown.items())

    result = run_with_progress(run, quiet=not progress, desc="councilgan", postfix=postfix)  # type: ignore[arg-type]
    return 130 if result.interrupted else 0


def _translate(args: argparse.Namespace) -> int:
    from facegen.config import load_config
    from facegen.inference import save_outputs, translate_face

    config = load_config(args.config) if args.config else None
    result = translate_face(args.face, args.checkpoint, seed=args.seed, member=args.member, samples=args.samples,
                            config=config, device=args.device)
    out = args.out or f"{safe_stem(Path(args.face).stem, 'face')}_body.png"
    for path in save_outputs(result, out):
        print(path)
    return 0


def _fid(args: argparse.Namespace) -> int:
    from facegen.fid import fid_of_folders, load_feature_extractor

    extractor = load_feature_extractor(args.model, args.device)
    print(f"FID {fid_of_folders(args.real, args.fake, extractor, args.device):.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_handler({"prepare": _prepare, "train": _train, "translate": _translate,
                                              "fid": _fid}[args.command], args)


def console_main() -> None:
    sys.exit(main())
