"""The VGG19 weights the style engines know, and loading them once per process.

``VGG_MODELS`` maps a short name to a Hugging Face repo and the safetensors file in it. ``--model``
also takes a local ``.safetensors`` file, a folder holding ``model.safetensors``, or any hub id
(``owner/name`` or ``owner/name:file.safetensors``). Loading is offline first: the local Hugging Face
cache, then one download attempt, else a one-line ``ModelNotAvailableError``. Only the ``features.*``
tensors are read (and fc6 where content features are asked for), so the rest of a full checkpoint's
classifier costs nothing.

``tiny`` is built in-process (seeded random weights, a few channels per conv), saved as a safetensors
file under ``$STYLIZE_TINY_DIR`` (default ``~/.cache/stylize/tiny``) and loaded back through the same
path as real weights; its images are not meaningful.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ConfigError, ModelNotAvailableError
from workbench.hub import REPO_ID

TINY_DIR_ENV = "STYLIZE_TINY_DIR"
TINY_HINT = "use --model tiny to try the style engine without weights (random, images not meaningful)"


@dataclass(frozen=True)
class VGGSpec:
    """One VGG19 checkpoint: where it lives and what it is."""

    name: str
    repo_id: str
    filename: str
    description: str
    tiny: bool = False


VGG_MODELS: dict[str, VGGSpec] = {
    "vgg19": VGGSpec(
        "vgg19", "timm/vgg19.tv_in1k", "model.safetensors",
        "VGG19, ImageNet-1k, torchvision's original weights (timm's safetensors copy, features.N.* layout)",
    ),
    "tiny": VGGSpec("tiny", "stylize-tiny/vgg19", "vgg19-tiny.safetensors",
                    "tiny random VGG19 (4-16 channels): tests only, images not meaningful", tiny=True),
}
DEFAULT_MODEL = "vgg19"


def model_spec(model: str) -> VGGSpec:
    """The spec for a registry name, local path or hub id (hub ids default to model.safetensors)."""
    if model in VGG_MODELS:
        return VGG_MODELS[model]
    path = Path(model).expanduser()
    if path.exists():
        return VGGSpec(model, str(path), "model.safetensors", f"local weights {path}")
    repo, _, filename = model.partition(":")
    if REPO_ID.match(repo):
        return VGGSpec(model, repo, filename or "model.safetensors", f"hub weights {model}")
    raise ConfigError(
        f"model '{model}' is not one of {', '.join(VGG_MODELS)}, an existing file or folder, "
        f"nor a Hugging Face id such as owner/name[:file.safetensors]"
    )


def tiny_dir() -> Path:
    """Where the tiny model's weights are materialised."""
    return Path(os.environ.get(TINY_DIR_ENV) or Path.home() / ".cache" / "stylize" / "tiny").expanduser()


def materialize_tiny(spec: VGGSpec) -> Path:
    """Write the tiny model's seeded weights once (atomically) and return the file."""
    from safetensors.torch import save_file

    from stylize.nst.vgg import tiny_vgg
    from workbench.atomic import atomic_path

    path = tiny_dir() / spec.filename
    if not path.is_file() or not _has_fc6(path):  # files written before the tiny fc6 existed are rewritten
        state = {k: v.contiguous() for k, v in tiny_vgg(seed=0).state_dict().items()}
        with atomic_path(path) as tmp:
            save_file(state, str(tmp))
    return path


def _has_fc6(path: Path) -> bool:
    from safetensors import safe_open

    from stylize.nst.vgg import FC6_KEYS

    try:
        with safe_open(str(path), framework="pt") as fh:
            return FC6_KEYS[0] in fh.keys()
    except Exception:  # unreadable: written again
        return False


def weights_file(model: str) -> Path:
    """The local safetensors file for ``model`` (cached, downloaded, or tiny); ModelNotAvailableError."""
    from workbench.hub import resolve_file

    spec = model_spec(model)
    if spec.tiny:
        return materialize_tiny(spec)
    local = Path(spec.repo_id)
    if local.is_dir() and not (local / spec.filename).is_file():
        files = sorted(local.glob("*.safetensors"))
        if len(files) == 1:
            return files[0]
    return resolve_file(spec.repo_id, spec.filename, name=spec.name, package="stylize")
