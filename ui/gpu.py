"""The GPU entry point's decorator, and where the app's runs can use a GPU.

``gpu`` is ``spaces.GPU`` where the ``spaces`` package is installed (Hugging Face Spaces) and a
do-nothing decorator everywhere else; on Spaces with dedicated GPU hardware ``spaces.GPU`` itself does
nothing, so the run behaves the same locally and there.

On a ZeroGPU Space a GPU exists only inside functions decorated with ``spaces.GPU``, which ZeroGPU
runs in a separate worker process: their arguments and results are pickled across, and nothing else
reaches them. The app's GPU entry point (``ui.runner.run_records``) takes a picklable request and
yields picklable records; the trajectory is built in the app process, and a run is stopped by ending
the generator. Off ZeroGPU (a local GPU, a Space on dedicated GPU hardware, a CPU) nothing here
changes anything; on ZeroGPU (``SPACES_ZERO_GPU`` set by the Space) the page says how runs get a GPU.
"""

from __future__ import annotations

import os
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:  # pragma: no cover - depends on the hosting
    import spaces
except ImportError:  # no `spaces` package: not on a Space
    spaces = None


def gpu(duration: int | Callable[..., int] | None = None) -> Callable[[F], F]:
    """Decorate the function that does GPU work; ``duration`` is ZeroGPU's time budget in seconds."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)

ZERO_GPU_NOTE = (
    "ℹ️ **Running on ZeroGPU.** Each run borrows a shared GPU for a time budget that grows with its steps "
    "(up to an hour) and waits in ZeroGPU's queue when the GPU is busy; long runs may end at the budget, "
    "keeping every step made. For long runs, give the Space dedicated GPU hardware or run the app locally."
)


def on_zero_gpu() -> bool:
    """Whether this is a ZeroGPU Space (the ``spaces`` package's own test of ``SPACES_ZERO_GPU``)."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
