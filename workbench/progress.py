"""The command-line face of the run loop: a tqdm progress bar over a run's steps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from workbench.loop import RunLoop, RunResult
from workbench.records import Item, RunStart, StepRecord

if TYPE_CHECKING:
    from workbench.stopping import StoppingStrategy


def run_with_progress(
    items: Iterable[Item],
    *,
    out: str | Path | None = None,
    strategy: "StoppingStrategy | None" = None,
    save_every: int = 0,
    quiet: bool = False,
    desc: str = "",
    position: int = 0,
    postfix: Callable[[dict[str, float]], str] | None = None,
) -> RunResult:
    """Drive a run through ``RunLoop`` with a progress bar (notes printed above it); Ctrl-C stops the
    run and keeps its steps (``result.interrupted``)."""
    from tqdm.auto import tqdm

    bar = None
    loop = RunLoop(items, strategy=strategy, out=out, save_every=save_every)
    try:
        for item in loop:
            if isinstance(item, RunStart):
                for note in item.notes:
                    tqdm.write(f"note: {note}")
                bar = tqdm(total=item.total, desc=desc, unit="step", disable=quiet, position=position,
                           dynamic_ncols=True)
            elif isinstance(item, StepRecord) and bar is not None:
                if item.step > 0:
                    bar.update(1)
                if postfix is not None:
                    bar.set_postfix_str(postfix(item.metrics), refresh=False)
    finally:
        if bar is not None:
            bar.close()
    assert loop.result is not None
    if loop.result.interrupted:
        tqdm.write("interrupted: saving the steps made so far")
    return loop.result
