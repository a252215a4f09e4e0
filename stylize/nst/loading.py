"""Loading VGG19 weights into ``VGG19Features``, once per process and device."""

from __future__ import annotations

from pathlib import Path

import torch

from stylize.nst.models import model_spec, weights_file
from stylize.nst.vgg import VGG19Features, cfg_from_state
from workbench.hub import freeze, load_error, load_once
from workbench.hub import pick_device as hub_pick_device


def pick_device(pref: str = "auto") -> torch.device:
    """The device only: the NST optimisation runs in float32 on every device."""
    return hub_pick_device(pref)[0]


def read_features(path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a safetensors file (other tensors are never read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return {key: fh.get_tensor(key) for key in fh.keys() if key.startswith("features.")}


@load_once
def load_vgg(model: str, device: torch.device = torch.device("cpu")) -> VGG19Features:
    """VGG19 features for a registry name, local path or hub id, frozen on ``device`` (cached)."""
    spec = model_spec(model)
    path = weights_file(model)
    try:
        state = read_features(path)
        cfg = cfg_from_state({k: tuple(v.shape) for k, v in state.items()})
        vgg = VGG19Features(cfg, label=spec.name)
        vgg.load_state_dict(state, strict=True)
    except Exception as exc:  # truncated file, wrong layout, not safetensors
        raise load_error(spec.name, spec.repo_id, path, exc, package="stylize") from exc
    return freeze(vgg.float(), device)
