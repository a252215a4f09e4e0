"""Loading VGG19 weights into ``VGG19Features``, once per process and device."""

from __future__ import annotations

from pathlib import Path

import torch

from stylize.nst.models import model_spec, weights_file
from stylize.nst.vgg import FC6_KEYS, VGG19Features, cfg_from_state, fc6_from_state
from workbench.errors import ConfigError
from workbench.hub import freeze, load_error, load_once
from workbench.hub import pick_device as hub_pick_device


def pick_device(pref: str = "auto") -> torch.device:
    """The device only: the NST optimisation runs in float32 on every device."""
    return hub_pick_device(pref)[0]


FC6_SOURCES = (FC6_KEYS[0], FC6_KEYS[1], "classifier.0.weight", "classifier.0.bias")


def read_features(path: Path, *, fc6: bool = False) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a safetensors file, plus its fc6 tensors (timm's
    ``pre_logits.fc1.*`` or torchvision's ``classifier.0.*``) when ``fc6``; others are never read."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return {key: fh.get_tensor(key) for key in fh.keys()
                if key.startswith("features.") or (fc6 and key in FC6_SOURCES)}


@load_once
def load_vgg(model: str, device: torch.device = torch.device("cpu"), fc6: bool = False) -> VGG19Features:
    """VGG19 features for a registry name, local path or hub id, frozen on ``device`` (cached); with
    ``fc6`` also its first fully connected layer (content features), or a one-line ConfigError naming
    the file when it holds none."""
    spec = model_spec(model)
    path = weights_file(model)
    try:
        state = read_features(path, fc6=fc6)
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        cfg = cfg_from_state({k: tuple(v.shape) for k, v in features.items()})
        head = fc6_from_state(state, int(cfg[-2])) if fc6 else {}
    except Exception as exc:  # truncated file, wrong layout, not safetensors
        raise load_error(spec.name, spec.repo_id, path, exc, package="stylize") from exc
    if fc6 and not head:
        raise ConfigError(f"{path} holds no fc6 weights ({FC6_KEYS[0]} or classifier.0.weight): content features "
                          "need a full VGG19 checkpoint such as timm/vgg19.tv_in1k; or set the content weight to 0")
    try:
        vgg = VGG19Features(cfg, label=spec.name, fc6=int(head[FC6_KEYS[0]].shape[0]) if head else 0)
        vgg.load_state_dict({**features, **head}, strict=True)
    except Exception as exc:
        raise load_error(spec.name, spec.repo_id, path, exc, package="stylize") from exc
    return freeze(vgg.float(), device)
