"""Runs the app's GPU entry point the way ZeroGPU does: in a separate (spawned) worker process, with
its argument and every yielded item pickled across, and stopped by ending the generator there."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue as queue_module
from typing import Any, Iterator

WORKER_TIMEOUT_S = 300.0


def _worker(request_blob: bytes, out: Any, stop: Any) -> None:
    from ui.runner import run_records

    request = pickle.loads(request_blob)
    gen = run_records(request)
    try:
        for item in gen:
            out.put(pickle.dumps(item))  # what crosses the process boundary: bytes, never live objects
            if stop.is_set():
                break
    except BaseException as exc:  # noqa: BLE001 - reported to the app side, as ZeroGPU does
        out.put(pickle.dumps(RuntimeError(f"worker failed: {exc!r}")))
    finally:
        gen.close()
        out.put(None)


def remote_records(request: Any, counter: dict | None = None) -> Iterator[Any]:
    """The GPU entry point's records, produced in a spawned process. Closing this generator (what the
    run loop does on Stop) tells the worker to end its run, then waits for the process to exit."""
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    blob = pickle.dumps(request)
    process = ctx.Process(target=_worker, args=(blob, out, stop), daemon=True)
    process.start()
    if counter is not None:
        counter["process"] = process
    try:
        while True:
            item = out.get(timeout=WORKER_TIMEOUT_S)
            if item is None:
                return
            value = pickle.loads(item)
            if isinstance(value, Exception):
                raise value
            yield value
    finally:
        stop.set()
        while process.is_alive():  # drain, so the worker is never blocked on a full queue
            try:
                out.get(timeout=0.2)
            except queue_module.Empty:
                pass
            process.join(timeout=0.1)


def _call_worker(blob: bytes, out: Any) -> None:
    fn, args = pickle.loads(blob)
    try:
        out.put(pickle.dumps(("ok", fn(*args))))
    except BaseException as exc:  # noqa: BLE001 - reported to the app side, as ZeroGPU does
        out.put(pickle.dumps(("error", RuntimeError(f"worker failed: {exc!r}"))))


def remote_call(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a spawned process, as ZeroGPU runs a ``spaces.GPU`` function: the function (by
    reference), its arguments and its result pickled across."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    process = ctx.Process(target=_call_worker, args=(pickle.dumps((fn, args)), out), daemon=True)
    process.start()
    try:
        status, value = pickle.loads(out.get(timeout=WORKER_TIMEOUT_S))
    finally:
        process.join(timeout=30)
    if status == "error":
        raise value
    return value
