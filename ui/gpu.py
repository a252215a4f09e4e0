"""``gpu``: ``spaces.GPU`` on Hugging Face ZeroGPU Spaces, a do-nothing decorator everywhere else.

On a Space the ``spaces`` package is installed and its decorator asks ZeroGPU for a GPU for the
duration of the call (it is itself a no-op on Spaces with dedicated GPU hardware). Locally and in CI
the package is absent and the function runs as written.
"""

from __future__ import annotations

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


ON_SPACES = spaces is not None
