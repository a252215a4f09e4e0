"""Model weights on disk: hub id -> local folder (offline first), and models loaded once per process.

Every back end resolves a hub id to a local folder (a tiny in-process build, a local directory, or a
Hugging Face cache snapshot) before calling ``from_pretrained(path)``: offline, ``from_pretrained`` on
a hub id retries for tens of seconds, whereas a cache look-up or a failed ``snapshot_download``
answers in milliseconds. Whatever cannot be found or fetched raises ``ModelNotAvailableError`` naming
the back end's own download command.

Back ends register their tiny builds with ``register_tiny(prefix, build)``: an id starting with
``prefix`` is then built in-process (seeded random weights) instead of looked up.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from workbench.errors import ConfigError, ModelNotAvailableError

PIPELINE = "pipeline"  # a diffusers pipeline folder with model_index.json
MODEL = "model"  # a single model folder with config.json + weights
FILE = "file"  # one weights file in a repo (e.g. a safetensors checkpoint)

REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # "org/name" on the Hugging Face hub
WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Pipeline components no engine uses: their absence does not make a snapshot incomplete.
_OPTIONAL_COMPONENTS = {"safety_checker", "feature_extractor", "image_encoder"}
_NO_WEIGHTS = ("Tokenizer", "Scheduler", "Processor", "FeatureExtractor")

# One lock for all loads: two app threads asking for the same model must not both load it.
LOAD_LOCK = threading.RLock()
_TINY: dict[str, Callable[[str], Path]] = {}
_CACHED: list[Any] = []  # every load_once function, for clear_model_cache


def register_tiny(prefix: str, build: Callable[[str], Path]) -> None:
    """Ids starting with ``prefix`` (e.g. ``"pixelart-tiny/"``) are built in-process by ``build(id)``."""
    _TINY[prefix] = build


def tiny_builder(repo_id: str) -> Callable[[str], Path] | None:
    """The registered tiny build for ``repo_id``, or None."""
    return next((build for prefix, build in _TINY.items() if repo_id.startswith(prefix)), None)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (HF_HUB_CACHE, HF_HOME)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def has_weights(folder: Path) -> bool:
    """Whether a folder directly holds a weights file."""
    return folder.is_dir() and any(f.name.endswith(WEIGHT_SUFFIXES) for f in folder.iterdir())


def is_complete(path: Path, kind: str) -> bool:
    """Whether a folder holds everything ``from_pretrained`` needs (file checks only, no loading)."""
    if kind != PIPELINE:
        return (path / "config.json").is_file() and has_weights(path)
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, ValueError):
        return False
    for component, entry in index.items():
        if component.startswith("_") or component in _OPTIONAL_COMPONENTS:
            continue
        if not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
            continue
        folder = path / component
        if not folder.is_dir():
            return False
        if not any(tag in str(entry[1]) for tag in _NO_WEIGHTS) and not has_weights(folder):
            return False
    return True


def cached_snapshot(repo_id: str, kind: str = MODEL) -> Path | None:
    """The complete local snapshot of a hub repo, or None; never touches the network."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=hub_cache_dir()))
    except Exception:  # LocalEntryNotFoundError, bad id, unreadable cache: all mean "not here"
        return None
    return path if is_complete(path, kind) else None


def short_error(exc: BaseException) -> str:
    """One line for an error message: the exception's first line, without long parentheticals."""
    first = (str(exc).strip().splitlines() or [""])[0]
    first = re.sub(r"\s*\(.{40,}$", "", first)  # diffusers nests the whole cache-miss story in (...)
    text = f"{type(exc).__name__}: {first}"
    return text if len(text) <= 200 else text[:199].rsplit(" ", 1)[0] + "…"


def _download(repo_id: str, kind: str, variant: str | None) -> Path:
    cache = hub_cache_dir()
    if kind == PIPELINE:
        from diffusers import DiffusionPipeline

        return Path(DiffusionPipeline.download(repo_id, variant=variant, cache_dir=cache))
    from huggingface_hub import snapshot_download

    # One copy of the weights: the variant when asked for, else the default safetensors, and .bin
    # only for repos that have nothing else. Other frameworks' files are never fetched.
    extras = ["*.json", "*.txt", "*.model"]
    passes = [
        {"allow_patterns": extras + ["*.safetensors"], "ignore_patterns": ["*.fp16.*", "*.bf16.*", "*onnx*"]},
        {"allow_patterns": extras + ["*.safetensors", "*.bin"], "ignore_patterns": ["*onnx*"]},
    ]
    if variant:
        passes.insert(0, {"allow_patterns": extras + [f"*.{variant}.safetensors"]})
    for patterns in passes:
        path = Path(snapshot_download(repo_id, cache_dir=cache, **patterns))
        if has_weights(path):
            break
    return path


def resolve_local(
    repo_id: str, *, kind: str = MODEL, name: str | None = None, variant: str | None = None,
    package: str = "pixelart",
) -> Path:
    """A local folder for ``repo_id``: tiny build, existing directory, cached snapshot, or download.

    ``kind`` is ``"pipeline"`` (diffusers pipeline) or ``"model"`` (one model); ``name`` is the
    registry name used in error messages; ``variant`` (e.g. "fp16") is preferred when downloading;
    ``package`` is the back end whose ``download`` command the error names.
    Raises ``ModelNotAvailableError`` when the weights are neither here nor downloadable.
    """
    name = name or repo_id
    build = tiny_builder(repo_id)
    if build is not None:
        try:
            return build(repo_id)
        except KeyError as exc:
            raise ModelNotAvailableError(name, repo_id, str(exc.args[0]), package=package) from None
    local = Path(repo_id).expanduser()
    if local.is_dir():
        return local
    if not REPO_ID.match(repo_id):
        raise ModelNotAvailableError(name, repo_id, "not a local directory nor a Hugging Face repo id",
                                     package=package)
    cached = cached_snapshot(repo_id, kind)
    if cached is not None:
        return cached
    try:
        path = _download(repo_id, kind, variant)
    except Exception as exc:  # offline, unknown repo, gated repo, disk full, ...
        raise ModelNotAvailableError(name, repo_id, short_error(exc), package=package) from exc
    if not is_complete(path, kind):
        raise ModelNotAvailableError(name, repo_id, f"the copy at {path} is incomplete", package=package)
    return path


def resolve_file(repo_id: str, filename: str, *, name: str | None = None, package: str = "pixelart") -> Path:
    """One weights file: a local file path as given, else ``filename`` in the repo's cached snapshot,
    else downloaded; ``ModelNotAvailableError`` when none works."""
    name = name or repo_id
    local = Path(repo_id).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        if (local / filename).is_file():
            return local / filename
        raise ModelNotAvailableError(name, repo_id, f"the folder has no {filename}", package=package)
    if not REPO_ID.match(repo_id):
        raise ModelNotAvailableError(name, repo_id, "not a local file or folder nor a Hugging Face repo id",
                                     package=package)
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=hub_cache_dir(), local_files_only=True))
    except Exception:
        pass
    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=hub_cache_dir()))
    except Exception as exc:
        raise ModelNotAvailableError(name, repo_id, short_error(exc), package=package) from exc


def variant_kwargs(path: Path, variant: str | None) -> dict[str, str]:
    """``{"variant": v}`` when the folder has that smaller copy of the weights, else nothing."""
    if variant and any(f".{variant}." in f.name and f.name.endswith(WEIGHT_SUFFIXES) for f in path.rglob("*")):
        return {"variant": variant}
    return {}


def freeze(module: Any, device: torch.device) -> Any:
    """Move to ``device``, eval mode, no gradients (dtype was set by ``from_pretrained``, which keeps a
    model's float32-only modules in float32)."""
    module.to(device)
    module.eval()
    module.requires_grad_(False)
    return module


def load_error(name: str, repo_id: str, path: Path, exc: Exception, package: str = "pixelart") -> ModelNotAvailableError:
    """The error for weights that are here but do not load."""
    return ModelNotAvailableError(name, repo_id, f"the copy at {path} could not be loaded ({short_error(exc)})",
                                  package=package)


def pick_device(pref: str = "auto") -> tuple[torch.device, torch.dtype]:
    """("auto") CUDA with bfloat16 when available, else CPU with float32; "cpu", "cuda" or "cuda:N"
    force one. Back ends that optimise in float32 everywhere take only the device."""
    pref = (pref or "auto").lower()
    if pref not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", pref):
        raise ConfigError(f"unknown device '{pref}'; choose auto, cpu or cuda")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{pref}' was asked for but no CUDA GPU is available; use --device cpu")
    if pref.startswith("cuda") or (pref == "auto" and torch.cuda.is_available()):
        return torch.device("cuda" if pref == "auto" else pref), torch.bfloat16
    return torch.device("cpu"), torch.float32


def norm_device(device: Any) -> torch.device:
    """One cache key per device: "cuda" and "cuda:0" are the same GPU."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


F = TypeVar("F", bound=Callable[..., Any])


def load_once(fn: F) -> F:
    """Cache a loader per process under the load lock, so two threads asking for the same model load
    it once. Arguments named ``device`` are normalised first; ``clear_model_cache`` forgets them all."""
    cached = functools.cache(fn)
    _CACHED.append(cached)

    @functools.wraps(fn)
    def load(*args: Any, **kwargs: Any) -> Any:
        if "device" in kwargs:
            kwargs["device"] = norm_device(kwargs["device"])
        with LOAD_LOCK:
            return cached(*args, **kwargs)

    load.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return load  # type: ignore[return-value]


def clear_model_cache() -> None:
    """Forget every model loaded through ``load_once`` (tests; freeing memory before switching models)."""
    with LOAD_LOCK:
        for cached in _CACHED:
            cached.cache_clear()


def library_versions(packages: tuple[str, ...] = ("torch", "diffusers", "transformers", "numpy", "pillow",
                                                  "scikit-learn")) -> dict[str, str]:
    """Versions recorded in every bundle and checkpoint, so a result can be traced to its software."""
    import importlib.metadata
    import platform

    versions = {"python": platform.python_version()}
    for pkg in packages:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "absent"
    return versions


def cached_file(repo_id: str, filename: str) -> Path | None:
    """One file of a hub repo in the local cache (or a local path), or None; never touches the network."""
    local = Path(repo_id).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        return local / filename if (local / filename).is_file() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache_dir())
    except Exception:  # a malformed id or an unreadable cache: not here
        return None
    return Path(found) if isinstance(found, str) else None
