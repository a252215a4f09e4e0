"""Batch runs: one trajectory bundle per photo of a folder, resumable, spread over processes.

Each photo runs through ``pixelart.run_files.run_to_bundle`` into a private work folder beside the
output (``.partial-<name>/``); when it finishes, its PNGs and palette are moved into the output
folder and the bundle is renamed into place *last*. So a bundle under its final name is always a
finished run, a rerun skips it, and a crash mid-photo leaves only the work folder, which the next
run deletes before starting that photo again.

What all photos share (the options, the stop strategy, the model and encoders) is checked once,
before the first photo runs: a problem there stops the batch with one error. Only a photo that
cannot be used (``ImageInputError``: unreadable, too small, ...) is skipped and reported, and the
command then exits with status 1.

Several GPUs: start the same command through a launcher, e.g.

    accelerate launch --num_processes 4 -m pixelart batch PHOTOS --out BUNDLES ...
    torchrun --nproc_per_node 4 -m pixelart batch PHOTOS --out BUNDLES ...

Each process reads RANK / WORLD_SIZE / LOCAL_RANK from the environment (both launchers set them),
takes the photos i with i % WORLD_SIZE == RANK of the sorted list, and runs on GPU LOCAL_RANK. The
processes never talk to each other; as every photo belongs to exactly one process, none touches
another's work folders.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from pixelart.config import RunConfig
from workbench.errors import ConfigError, ImageInputError
from workbench.launcher import launch_env

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".jfif")
PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class Shard:
    """This process's place among the launcher's processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def take(self, items: Sequence[Any]) -> list[Any]:
        """The items i with i % world_size == rank."""
        return [x for i, x in enumerate(items) if i % self.world_size == self.rank]


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun and accelerate set them (a single process without)."""
    launch = launch_env(env)
    return Shard(launch.rank, launch.world_size, launch.local_rank)


def list_photos(folder: str | os.PathLike) -> list[Path]:
    """Image files of a folder (by suffix, not recursive), sorted by name so every process agrees."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"photo folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                  and not p.name.startswith("."))


def bundle_names(photos: Sequence[Path]) -> dict[Path, str]:
    """Bundle file name per photo: ``<stem>.bundle``; when stems collide, ``<stem>_<ext>.bundle`` with the
    suffix as written (``a.jpg`` -> ``a_jpg``, ``a.PNG`` -> ``a_PNG``), and ``_2``, ``_3``, ... where names
    still collide. Names are compared case-insensitively (``a_jpg`` and ``a_JPG`` are one file on macOS
    and Windows). The photo's own stem is kept as it is: the file system already accepted it."""
    photos = sorted(photos)
    stems: dict[str, int] = {}
    for p in photos:
        stems[p.stem.casefold()] = stems.get(p.stem.casefold(), 0) + 1
    unique = [p for p in photos if stems[p.stem.casefold()] == 1]
    taken = {p.stem.casefold() for p in unique}  # reserved first, so a suffixed name never displaces them
    names = {p: p.stem for p in unique}
    for p in photos:
        if p in names:
            continue
        base = f"{p.stem}_{p.suffix.lstrip('.')}"
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.casefold())
        names[p] = name
    return {p: names[p] + ".bundle" for p in photos}


def device_for(config: RunConfig, shard: Shard) -> RunConfig:
    """Under a multi-process launch on a CUDA machine, pin this process to GPU LOCAL_RANK."""
    if shard.world_size == 1 or config.device == "cpu":
        return config
    import torch

    if not torch.cuda.is_available():
        return config
    # the loaders treat "cuda" as the current device, so select it here once for the whole process
    torch.cuda.set_device(shard.local_rank % torch.cuda.device_count())
    return config.replace(device="cuda")


@dataclass
class PhotoResult:
    """What happened to one photo."""

    photo: Path
    bundle: Path
    status: str  # "done", "skipped" (already finished), "failed" (unusable photo, reported), "interrupted"
    message: str = ""
    steps: int = 0


@dataclass
class BatchSummary:
    """Counts and per-photo results of a batch (this process's share)."""

    shard: Shard
    results: list[PhotoResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def interrupted(self) -> bool:
        return any(r.status == "interrupted" for r in self.results)

    @property
    def exit_code(self) -> int:
        """130 when interrupted, 1 when a photo failed, else 0."""
        return 130 if self.interrupted else 1 if self.count("failed") else 0


def check_setup(
    config: RunConfig, *, stop_on: tuple[str, float | None] | None = None, patience: int = 500
) -> None:
    """What every photo shares, checked once: the options and the stop strategy. A bad one is a
    ConfigError for the whole batch, not a failure of each photo."""
    from pixelart.run_files import stop_strategy
    from pixelart.run import check_config

    check_config(config)
    stop_strategy(stop_on, patience, config)


def load_models(config: RunConfig) -> None:
    """Load the models as each photo's run will (once per process, so the runs reuse them): a missing
    or broken model stops the batch before its first photo."""
    from pixelart.run import load_encoders, load_guidance

    load_encoders(config, load_guidance(config))


def iter_batch(
    photo_dir: str | os.PathLike, out_dir: str | os.PathLike, config: RunConfig, *, shard: Shard | None = None,
    stop_on: tuple[str, float | None] | None = None, patience: int = 500, save_every: int = 500, quiet: bool = True,
    runner: Callable[..., dict] | None = None, preload: bool | None = None,
) -> Iterator[PhotoResult]:
    """Run this process's photos one by one, yielding a result per photo (the caller shows progress).

    The options, the stop strategy and (``preload``, by default when ``runner`` is the default) the
    models are checked before the first photo runs; a problem there raises (ConfigError,
    ModelNotAvailableError) for the whole batch. Per photo, only an unusable photo (ImageInputError)
    is reported as "failed" and the batch goes on. ``runner`` defaults to
    ``pixelart.run_files.run_to_bundle`` (a test may pass one that fails).
    """
    from pixelart.run_files import run_to_bundle

    preload = runner is None if preload is None else preload
    runner = runner or run_to_bundle
    shard = shard or shard_from_env()
    check_setup(config, stop_on=stop_on, patience=patience)
    photos = list_photos(photo_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = bundle_names(photos)
    config = device_for(config, shard)
    for photo in shard.take(photos):
        final = out_dir / names[photo]
        if final.is_file():
            yield PhotoResult(photo, final, "skipped", "already finished")
            continue
        if preload:  # before the first photo that runs (a resumed, finished batch loads nothing)
            load_models(config)
            preload = False
        work = out_dir / f"{PARTIAL_PREFIX}{final.stem}"
        shutil.rmtree(work, ignore_errors=True)  # what a crashed attempt left: start this photo over
        work.mkdir()
        try:
            summary = runner(photo, config, work / final.name, stop_on=stop_on, patience=patience,
                             save_every=save_every, quiet=quiet, position=1)
        except ImageInputError as exc:  # this photo is unusable (unreadable, too small, ...): report, go on
            shutil.rmtree(work, ignore_errors=True)
            yield PhotoResult(photo, final, "failed", str(exc))
            continue
        except BaseException:  # anything else concerns every photo: stop the batch
            shutil.rmtree(work, ignore_errors=True)
            raise
        if summary.get("interrupted"):
            shutil.rmtree(work, ignore_errors=True)
            yield PhotoResult(photo, final, "interrupted", "stopped by the user; this photo will run again")
            return
        _promote(work, out_dir, final.name)
        yield PhotoResult(photo, final, "done", "", int(summary.get("steps_recorded", 0)))


def _promote(work: Path, out_dir: Path, bundle_name: str) -> None:
    """Move a finished photo's files into the output folder, the bundle last (it marks 'finished')."""
    for item in sorted(work.iterdir()):
        if item.name != bundle_name and item.is_file():
            os.replace(item, out_dir / item.name)
    os.replace(work / bundle_name, out_dir / bundle_name)
    shutil.rmtree(work, ignore_errors=True)


def run_batch(
    photo_dir: str | os.PathLike, out_dir: str | os.PathLike, config: RunConfig, *, shard: Shard | None = None,
    stop_on: tuple[str, float | None] | None = None, patience: int = 500, save_every: int = 500,
    quiet: bool = False, log: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Run a folder of photos with a progress bar over the set; see ``iter_batch``."""
    from tqdm.auto import tqdm

    shard = shard or shard_from_env()
    check_setup(config, stop_on=stop_on, patience=patience)  # before the bar: a bad option is one line
    summary = BatchSummary(shard)
    mine = shard.take(list_photos(photo_dir))
    desc = "photos" if shard.world_size == 1 else f"photos [rank {shard.rank}/{shard.world_size}]"
    bar = tqdm(total=len(mine), desc=desc, unit="photo", disable=quiet, position=0, dynamic_ncols=True)
    say = log or tqdm.write
    try:
        for result in iter_batch(photo_dir, out_dir, config, shard=shard, stop_on=stop_on, patience=patience,
                                 save_every=save_every, quiet=quiet):
            summary.results.append(result)
            bar.update(1)
            if result.status == "failed":
                say(f"skipped {result.photo.name}: {result.message}")
            elif result.status == "interrupted":
                say(f"interrupted during {result.photo.name}: {result.message}")
    finally:
        bar.close()
    return summary
