"""The GPU entry point of every back end: build a run from a picklable request and yield its records.

``run_records`` carries the ``spaces.GPU`` decorator (``ui.gpu.gpu``: a no-op without the ``spaces``
package and on Spaces with dedicated GPU hardware). On a ZeroGPU Space it runs in a separate worker
process: its argument (a ``RunRequest``: the back end's name, its inputs and config) and everything it
yields (``RunStart``, ``StepRecord``, ``Flush``: frames and numbers) cross that boundary by pickling,
and the app process builds the trajectory from them (``workbench.loop.RunLoop``). A run is stopped by
ending the generator: ``StopRun`` raised into it where the generator is local (the run then hands back
its last batch of late values), closing it otherwise.

Models are loaded inside the run through each engine's per-process cache, so only the first run of a
model pays for loading it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from workbench.records import Item
from ui.gpu import gpu

# kind -> "module:callable" building the run from (*args, config, **kwargs); a string, so that a
# ZeroGPU worker process imports only the back end it runs
RUN_FACTORIES: dict[str, str] = {
    "pixelart": "pixelart.run:PixelArtRun",
    "nst": "stylize.nst.run:NSTRun",
    "sms": "stylize.sms.run:SMSRun",
    "councilgan": "facegen.run:TrainRun",
}
# GPU seconds asked of ZeroGPU per step (A100-class): SDXL + ControlNets, VGG19 L-BFGS, SD 1.5, GAN
SECONDS_PER_STEP = {"pixelart": 0.6, "nst": 0.2, "sms": 0.5, "councilgan": 0.5}


@dataclass(frozen=True)
class RunRequest:
    """What Run was pressed with, kept together until the GPU queue reaches it (an input uploaded
    meanwhile does not change the run). Everything here must pickle."""

    kind: str
    args: tuple[Any, ...]  # positional inputs before the config (e.g. the photo)
    config: Any
    total: int  # the steps asked for, for the progress bar and ZeroGPU's time budget
    kwargs: dict[str, Any] = field(default_factory=dict)


def factory(kind: str) -> Callable[..., Any]:
    """The callable that builds a run of ``kind``."""
    module, _, name = RUN_FACTORIES[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def gpu_duration(request: RunRequest, *args: object, **kwargs: object) -> int:
    """Seconds of GPU a run would ask ZeroGPU for (``spaces.GPU`` ignores it elsewhere)."""
    return int(min(3600, 60 + request.total * SECONDS_PER_STEP.get(request.kind, 0.6)))


@gpu(duration=gpu_duration)
def run_records(request: RunRequest) -> Iterator[Item]:
    """Build the run and yield its records (``RunStart`` first); ending this generator ends the run."""
    run = factory(request.kind)(*request.args, request.config, **request.kwargs)
    yield from run
