"""A sweep of the PSR weight λ: one SMS run per value with the same seed, each image saved, a captioned
grid (the content image first) and the content-preservation figures of every value in one CSV.

Files written in the output folder (each atomically, as soon as it is known):

- ``lambda_<λ>.png``: the last recorded frame of the run with that λ (``<λ>`` printed with ``%g``)
- ``grid.png``: the content image then each result, captioned ``content`` / ``lambda = <λ>``
- ``figures.csv``: one row per λ: L2, SSIM (and the CLIP score when its weights are here) to the content
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stylize.sms.config import SMSConfig
from workbench.errors import ConfigError

MAX_LAMBDAS = 32
GRID_CELL = 256  # the grid's images are scaled to this height
CAPTION_HEIGHT = 28


def parse_lambdas(text: str) -> tuple[float, ...]:
    """'1e-5,1e-4' -> (1e-05, 0.0001); a one-line ``ConfigError`` for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ConfigError("--lambdas is empty; give comma-separated PSR weights, e.g. 1e-5,1e-4,1e-3")
    values: list[float] = []
    for part in parts:
        if not part:
            raise ConfigError(f"--lambdas '{text}' has an empty entry; separate the values with single commas")
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"--lambdas: '{part}' is not a number; give e.g. 1e-5,1e-4,1e-3") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"--lambdas: '{part}' must be a finite number >= 0")
        if lambda_name(value) in {lambda_name(v) for v in values}:
            raise ConfigError(f"--lambdas: {part} is given twice")
        values.append(value)
    if len(values) > MAX_LAMBDAS:
        raise ConfigError(f"--lambdas has {len(values)} values; at most {MAX_LAMBDAS} per sweep")
    return tuple(values)


def lambda_name(value: float) -> str:
    """How a λ is written in file names and captions: ``%g`` (1e-05, 0.0001, 0.001)."""
    return f"{value:g}"


def image_path(folder: Path, value: float) -> Path:
    """The file of one λ's image."""
    return folder / f"lambda_{lambda_name(value)}.png"


def captioned_grid(images: Sequence[np.ndarray], captions: Sequence[str], *, height: int = GRID_CELL,
                   columns: int = 5) -> Image.Image:
    """Images in rows of ``columns``, each scaled to ``height`` (aspect kept) with its caption under it."""
    pil = [Image.fromarray(np.asarray(a, dtype=np.uint8)).convert("RGB") for a in images]
    scaled = [p.resize((max(1, round(p.width * height / p.height)), height), Image.Resampling.LANCZOS) for p in pil]
    width = max(s.width for s in scaled)
    pad, cols = 6, min(columns, len(scaled))
    rows = math.ceil(len(scaled) / cols)
    cell_w, cell_h = width + pad, height + CAPTION_HEIGHT + pad
    grid = Image.new("RGB", (cols * cell_w + pad, rows * cell_h + pad), "white")
    draw = ImageDraw.Draw(grid)
    font = _font()
    for i, (image, caption) in enumerate(zip(scaled, captions, strict=True)):
        x, y = pad + (i % cols) * cell_w, pad + (i // cols) * cell_h
        grid.paste(image, (x + (width - image.width) // 2, y))
        draw.text((x + width // 2, y + height + CAPTION_HEIGHT // 2), caption, fill="black", font=font, anchor="mm")
    return grid


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=16)  # Pillow >= 10.1 with FreeType
    except TypeError:
        return ImageFont.load_default()


@dataclass
class SweepResult:
    """What a sweep wrote, and its figures (one row per λ)."""

    images: list[Path]
    grid: Path
    csv: Path
    rows: list[dict]
    clip_note: str


def run_sweep(content: Image.Image, config: SMSConfig, lambdas: Sequence[float], out: Path, *,
              drive: Callable[[object], dict], content_name: str = "", size: int = 512,
              clip: str = "", say: Callable[[str], None] = print) -> SweepResult:
    """One run per λ (``config`` with only ``lambda_psr`` changed: same seed, same everything),
    ``drive(run) -> {"frame", "step", "interrupted"}`` consuming each; writes the files above."""
    from stylize.content_figures import DEFAULT_CLIP, TINY_CLIP, add_clip_scores, content_figures
    from stylize.sms.run import SMSRun
    from workbench.atomic import atomic_path
    from workbench.export import save_image, write_csv

    out.mkdir(parents=True, exist_ok=True)
    frames: list[np.ndarray] = []
    paths: list[Path] = []
    steps: list[int] = []
    reference: np.ndarray | None = None
    for i, value in enumerate(lambdas):
        say(f"λ {i + 1} of {len(lambdas)}: {lambda_name(value)}")
        run = SMSRun(content, dataclasses.replace(config, lambda_psr=float(value)).check(), content_name=content_name)
        reference = run.content  # the content at the working size, as every run sees it
        result = drive(run)
        if result["interrupted"]:
            raise KeyboardInterrupt  # Ctrl-C: the images of the values done are saved already
        frames.append(result["frame"])
        steps.append(int(result["step"]))
        paths.append(save_image(result["frame"], image_path(out, value)))
        say(f"saved {paths[-1]}")
    assert reference is not None
    captions = ["content", *(f"lambda = {lambda_name(v)}" for v in lambdas)]
    grid_path = out / "grid.png"
    with atomic_path(grid_path) as tmp:
        captioned_grid([reference, *frames], captions).save(tmp, format="PNG")
    say(f"saved {grid_path}")

    content_rgb = Image.fromarray(reference)
    figures = content_figures(content_rgb, frames, [p.name for p in paths], size=size)
    clip_model = clip or (TINY_CLIP if config.is_tiny else DEFAULT_CLIP)
    note = add_clip_scores(figures, frames, config.style, clip_model)
    rows = [{"lambda_psr": lambda_name(v), "steps": s, **f.row(), "size": size,
             "clip_model": clip_model if f.clip is not None else "",
             "clip_prompt": config.style if f.clip is not None else ""}
            for v, s, f in zip(lambdas, steps, figures)]
    csv_path = write_csv(out / "figures.csv", rows)
    say(f"saved {csv_path}")
    return SweepResult(images=paths, grid=grid_path, csv=csv_path, rows=rows, clip_note=note)
