"""The GPU entry point: prepare a pixel-art run and iterate it until it ends or a stop is asked for.

This is the one function that touches the GPU, so it carries the ``spaces.GPU`` decorator (a no-op off
Spaces). Models are loaded inside ``PixelArtRun`` through the engine's per-process cache, so only the
first run of a model pays for loading it.
"""

from __future__ import annotations

from typing import Callable, Iterator

from PIL import Image

from pixelart.config import RunConfig
from pixelart.run import PixelArtRun, StepRecord
from ui.gpu import gpu

SECONDS_PER_STEP_BUDGET = 0.6  # ZeroGPU time asked for per step (SDXL + ControlNets on an A100-class GPU)


def gpu_duration(photo: Image.Image, config: RunConfig, *args: object, **kwargs: object) -> int:
    """How many seconds of GPU a run asks ZeroGPU for (ignored elsewhere)."""
    return int(min(3600, 60 + config.steps * SECONDS_PER_STEP_BUDGET))


@gpu(duration=gpu_duration)
def run_steps(
    photo: Image.Image, config: RunConfig, photo_name: str, should_stop: Callable[[], bool]
) -> Iterator[PixelArtRun | StepRecord]:
    """Yield the prepared run first (its trajectory grows as the steps come), then every step record.

    ``should_stop`` is asked after each step; closing this generator early also ends the run cleanly.
    Either way the engine still writes the similarities of the steps it made.
    """
    run = PixelArtRun(photo, config, photo_name=photo_name)
    yield run
    steps = iter(run)
    try:
        for record in steps:
            yield record
            if should_stop():
                break
    finally:
        steps.close()
