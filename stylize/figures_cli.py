"""``python -m stylize figures CONTENT IMAGE [IMAGE ...]``: content-preservation figures of stylized
images (L2, SSIM, CLIP score; definitions in ``stylize.content_figures``), printed as a table and
optionally written as CSV. Works offline; without CLIP weights the CLIP column stays empty and the
output says why."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli import command
from stylize.content_figures import (DEFAULT_CLIP, DEFAULT_SIZE, add_clip_scores, compared_size, content_figures,
                                     format_table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``figures`` command's options."""
    a = parser.add_argument
    a("content", help="the content image")
    a("images", nargs="+", help="the stylized images to compare with it")
    a("--size", type=int, default=DEFAULT_SIZE, help="short side (px) both are resized to (Lanczos) for L2 and SSIM")
    a("--prompt", default="", help="the style prompt for the CLIP score (none: no CLIP score)")
    a("--clip", default=DEFAULT_CLIP, help="CLIP model id or local folder, or 'none' (default: %(default)s)")
    a("--csv", default=None, help="also write the figures to this .csv file")


def run_command(args: argparse.Namespace) -> int:
    """Compute and print the figures; user errors propagate as one line."""
    from workbench.cli import check_out_file
    from workbench.export import write_csv
    from workbench.images import load_photo

    csv_path = check_out_file(Path(args.csv).expanduser(), "--csv", (".csv",)) if args.csv else None
    content = load_photo(args.content)
    size = compared_size(content, args.size)
    images = [load_photo(p) for p in args.images]
    figures = content_figures(content, images, [Path(p).name for p in args.images], size=args.size)
    note = add_clip_scores(figures, images, args.prompt, args.clip)
    print(format_table(figures, size))
    if note:
        print(note)
    if csv_path is not None:
        rows = [{**f.row(), "size": args.size, "clip_model": args.clip if f.clip is not None else "",
                 "clip_prompt": args.prompt if f.clip is not None else ""} for f in figures]
        write_csv(csv_path, rows)
        print(f"saved {csv_path}")
    return 0


command("figures", "content-preservation figures: CONTENT IMAGE [IMAGE ...] [--size 512] [--prompt TEXT] [--csv F]",
        add_arguments)(run_command)
