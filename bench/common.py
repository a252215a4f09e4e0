"""Shared benchmark utilities: the machine a figure was measured on, summary statistics, the CSV.

Every benchmark in ``bench/`` is a list of declarative scenarios run by ``run_scenarios``, which appends
one CSV row per scenario (with the machine's description on each row, so rows from different machines
can share a file and still be told apart).
"""

from __future__ import annotations

import csv
import datetime
import importlib.metadata
import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

S = TypeVar("S")


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str]:
    """Platform, CPU model and usable cores, torch version and threads, CUDA device (or 'none')."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))  # what this process may use, not what the host has
    except AttributeError:
        cores = os.cpu_count() or 0
    versions = {}
    for pkg in ("diffusers", "transformers"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "absent"
    return {
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": str(cores),
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "diffusers": versions["diffusers"],
        "transformers": versions["transformers"],
    }


def describe_machine(info: Mapping[str, str]) -> str:
    """One line for a printed report."""
    gpu = info["cuda_device"] if info["cuda_device"] != "none" else "no GPU"
    return (
        f"{info['cpu']} ({info['cpu_count']} cores, {info['torch_threads']} torch threads), {gpu}; "
        f"{info['platform']}, Python {info['python']}, torch {info['torch']}, "
        f"diffusers {info['diffusers']}, transformers {info['transformers']}"
    )


def summarize(samples: Sequence[float], percentiles: Sequence[int] = (90,)) -> dict[str, float]:
    """median, the given percentiles (``p90`` ...; linear interpolation), mean, min and max of a list of
    milliseconds; NaN when empty.

    On a shared machine the min is the best estimate of the uncontended cost, the high percentiles the
    first to show other processes' load.
    """
    keys = ["median", *(f"p{q}" for q in percentiles), "mean", "min", "max"]
    if len(samples) == 0:
        return dict.fromkeys(keys, float("nan"))
    arr = np.asarray(samples, dtype=np.float64)
    values = [np.median(arr), *np.percentile(arr, list(percentiles)), arr.mean(), arr.min(), arr.max()]
    return {k: float(v) for k, v in zip(keys, values)}


def append_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Append rows to a CSV, writing the header for a new file; returns the file written.

    A file whose header differs (an older column set) is left untouched and the rows go to a sibling
    ``NAME.<first new column count>cols.csv`` instead, so no file ever mixes two layouts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 0:
        with path.open(newline="") as f:
            header = next(csv.reader(f), [])
        if header != list(columns):
            path = path.with_name(f"{path.stem}.{len(columns)}cols{path.suffix}")
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c, "")) for c in columns})
    return path


def _cell(value: Any) -> Any:
    return f"{value:.3f}" if isinstance(value, float) else value


def load_average() -> float | str:
    """The 1-minute load average (runnable processes): above the core count, others competed for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return ""


def timestamp() -> str:
    """Local time with offset, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def run_scenarios(
    scenarios: Sequence[S],
    run_one: Callable[[S], dict[str, Any]],
    *,
    csv_path: Path | None,
    columns: Sequence[str],
    info: Mapping[str, str] | None = None,
    print_row: Callable[[dict[str, Any]], None] = print,
) -> tuple[list[dict[str, Any]], Path | None]:
    """Run each scenario, print its row as soon as it is measured, append all rows to ``csv_path``.

    The machine's description (``info``, default ``machine_info()``) is added to every row. Rows are
    written even when a later scenario fails (the error is raised after writing), so a long GPU session
    never loses finished figures. Returns the rows and the CSV actually written (None when none).
    """
    info = dict(info) if info is not None else machine_info()
    rows: list[dict[str, Any]] = []
    written: Path | None = None
    try:
        for scenario in scenarios:
            row = {"timestamp": timestamp(), **run_one(scenario), "load_1min": load_average(), **info}
            rows.append(row)
            print_row(row)
    finally:
        if csv_path is not None and rows:
            written = append_csv(csv_path, rows, columns)
    return rows, written
