"""Run one photo to files: the trajectory bundle and the chosen step as PNGs and a palette.

The one function behind ``python -m pixelart run`` and each photo of ``batch``; it drives the run
through the workbench's run loop (``workbench.progress.run_with_progress``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import ConfigError
from workbench.stopping.rules import DEFAULT_PATIENCE

if TYPE_CHECKING:
    from pixelart.config import RunConfig
    from workbench.stopping import StoppingStrategy


def stop_strategy(
    stop_on: tuple[str, float | None] | None, patience: int = DEFAULT_PATIENCE, config: "RunConfig | None" = None
) -> "StoppingStrategy | None":
    """The ``--stop-on`` strategy (with ``--patience`` where it takes one), or None. With ``config``, a
    strategy that reads a series the run will not record is an error (it could never fire)."""
    from pixelart.stopping import PIXELART_STRATEGIES

    if stop_on is None:
        return None
    name, param = stop_on
    strategy = PIXELART_STRATEGIES.live(name, param, patience)
    if config is not None:
        encoders = [e for e in ("clip", "dino") if e in strategy.needs and e not in config.metrics.encoders]
        if encoders:
            raise ConfigError(f"--stop-on {name} needs the {' and '.join(encoders)} similarity: "
                              f"add {','.join(encoders)} to --encoders")
        if strategy.reads_parts and config.metrics.parts == "off":
            raise ConfigError(f"--stop-on {name} needs per-part norms: use --parts auto or on")
    return strategy


# -- run ------------------------------------------------------------------------------------------
def run_to_bundle(photo_path: Path, config, out: Path, *, stop_on=None, patience: int = DEFAULT_PATIENCE,
                  save_every: int = 500, quiet: bool = False, position: int = 0) -> dict:
    """Run one photo to a bundle + PNGs; shared by ``run`` and ``batch``. Returns a summary dict."""
    from workbench.export import save_pixel_art
    from pixelart.run import PixelArtRun
    from workbench.images import load_photo
    from workbench.progress import run_with_progress

    strategy = stop_strategy(stop_on, patience, config)
    photo = load_photo(photo_path)
    run = PixelArtRun(photo, config, photo_name=photo_path.name)
    result = run_with_progress(run, out=out, strategy=strategy, save_every=save_every, quiet=quiet,
                               desc=photo_path.name, position=position, postfix=_postfix)
    traj = result.trajectory
    paths = save_pixel_art(traj.frame(result.chosen_step), traj.palette, out.with_suffix(""))
    return {"bundle": out, "steps_recorded": len(traj), "chosen_step": result.chosen_step,
            "decision": result.decision, "interrupted": result.interrupted, "paths": paths,
            "prompt": run.setup.prompt}


def _postfix(metrics: dict) -> str:
    parts = []
    for key, label in (("norm", "d"), ("rate", "r"), ("clip", "clip"), ("dino", "dino")):
        if key in metrics and math.isfinite(metrics[key]):
            parts.append(f"{label}={metrics[key]:.3f}")
    return " ".join(parts)
