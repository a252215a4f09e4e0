"""The GPU entry point: prepare a pixel-art run and iterate it until it ends or a stop is asked for.

It carries the ``spaces.GPU`` decorator (``ui.gpu.gpu``: a no-op without the ``spaces`` package and on
Spaces with dedicated GPU hardware).

Models are loaded inside ``PixelArtRun`` through the engine's per-process cache, so only the first run
of a model pays for loading it. This generator hands its caller the live ``PixelArtRun`` (whose
trajectory the viewer reads while it grows) and asks a callable whether to stop: both only work in the
app's own process, which is why the app needs dedicated GPU hardware and does not run on ZeroGPU
(see ``ui.gpu``).
"""

from __future__ import annotations

from typing import Callable, Iterator

from PIL import Image

from pixelart.config import RunConfig
from pixelart.run import PixelArtRun, StepRecord
from ui.gpu import gpu

SECONDS_PER_STEP_BUDGET = 0.6  # GPU time asked of ZeroGPU per step (SDXL + ControlNets, A100-class)


def gpu_duration(photo: Image.Image, config: RunConfig, *args: object, **kwargs: object) -> int:
    """Seconds of GPU a run would ask ZeroGPU for (``spaces.GPU`` ignores it elsewhere)."""
    return int(min(3600, 60 + config.steps * SECONDS_PER_STEP_BUDGET))


@gpu(duration=gpu_duration)
def run_steps(
    photo: Image.Image, config: RunConfig, photo_name: str, should_stop: Callable[[], bool]
) -> Iterator[PixelArtRun | StepRecord]:
    """Yield the prepared run first (its trajectory grows as the steps come), then every step record.

    ``should_stop`` is asked once the models are loaded and after each step; closing this generator
    early also ends the run cleanly. Either way the engine still writes the similarities of the steps
    it made.
    """
    run = PixelArtRun(photo, config, photo_name=photo_name)
    yield run
    if should_stop():  # Stop was pressed while the models loaded
        return
    steps = iter(run)
    try:
        for record in steps:
            yield record
            if should_stop():
                break
    finally:
        steps.close()
