"""A plain-torch VGG19 feature extractor whose parameter names match torchvision's ``features.N.*``.

torchvision does not import beside the pinned torch, so this module rebuilds the ``features`` part of
``torchvision.models.vgg19`` (16 convolutions, ReLUs, 5 max pools; no classifier) with the same
module indices, so that the ImageNet VGG19 weights saved as safetensors (``features.0.weight`` ...)
load with ``load_state_dict``. Input is RGB in [0, 1]; the ImageNet mean/std normalisation that the
torchvision weights were trained with is applied inside ``forward``.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
import torch.nn.functional as F

from stylize.nst.layers import LAYERS, NUM_MODULES, VGG19_CFG, depth

FC6_POOL = 7  # torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier; fc6 sees 512x7x7
FC6_FEATURES = 4096
TINY_FC6_FEATURES = 32
FC6_KEYS = ("pre_logits.fc1.weight", "pre_logits.fc1.bias")  # timm's names (this module's too)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POOLINGS = ("max", "avg")


def _build_features(cfg: tuple[int | str, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for entry in cfg:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(entry), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            channels = int(entry)
    assert len(layers) == NUM_MODULES, "every VGG19 config has 37 feature modules"
    return nn.Sequential(*layers)


class PreLogits(nn.Module):
    """VGG19's first fully connected layer fc6 stored as timm stores it: ``pre_logits.fc1``, a 7x7 conv
    over the 7x7 pooled conv5 maps (torchvision's ``classifier.0`` Linear, reshaped)."""

    def __init__(self, in_channels: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(in_channels, out_features, kernel_size=FC6_POOL)


class VGG19Features(nn.Module):
    """VGG19's convolutional part. ``extract`` returns the activations of named layers.

    ``cfg`` gives the channels per conv (``VGG19_CFG`` for the real network, ``TINY_CFG`` for tests);
    the layer names and module indices are the same for every cfg.
    """

    def __init__(self, cfg: tuple[int | str, ...] = VGG19_CFG, *, label: str = "vgg19", fc6: int = 0) -> None:
        super().__init__()
        self.cfg = tuple(cfg)
        self.label = label  # registry name or path: run metadata and messages
        self.features = _build_features(self.cfg)
        # fc6 (``fc6`` outputs; 0: none) only where content features are asked for: VGG19's is 411 MB.
        self.pre_logits = PreLogits(int(self.cfg[-2]), fc6) if fc6 else None
        # Not persistent: the weight file holds only features.*; the constants are ImageNet's.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def channels(self, layer: str) -> int:
        """Number of feature maps at ``layer``."""
        index = LAYERS[layer][0]
        for module in reversed(self.features[: index + 1]):
            if isinstance(module, nn.Conv2d):
                return module.out_channels
        raise AssertionError("every layer follows a conv")

    def extract(
        self, image: torch.Tensor, layers: Iterable[str], *, after_relu: bool = True, pooling: str = "max"
    ) -> dict[str, torch.Tensor]:
        """Activations ``{name: (B, C, H, W)}`` of ``layers`` for RGB ``image`` (B, 3, H, W) in [0, 1].

        ``after_relu`` takes a conv layer's output after its ReLU, as Caffe's in-place ReLU does (the
        blob Gatys et al. and Matsuo & Yanai call ``conv4_2`` is rectified); ``pooling="avg"``
        replaces the max pools by average pools (Gatys et al.'s suggestion for image synthesis).
        The forward pass stops at the deepest requested layer.
        """
        names = list(dict.fromkeys(layers))
        wanted: dict[int, list[str]] = {}
        for name in names:
            conv, relu = LAYERS[name]
            wanted.setdefault(relu if (relu >= 0 and after_relu) else conv, []).append(name)
        out: dict[str, torch.Tensor] = {}
        x = (image - self.mean) / self.std
        for index in range(depth(names)):
            module = self.features[index]
            if isinstance(module, nn.MaxPool2d) and pooling == "avg":
                x = F.avg_pool2d(x, kernel_size=2, stride=2)
            else:
                x = module(x)
            for name in wanted.get(index, ()):
                out[name] = x
        return out


    def fc6(self, pool5: torch.Tensor, *, after_relu: bool = True) -> torch.Tensor:
        """(B, D) fc6 activations from ``pool5`` maps (B, C, h, w), as torchvision's classifier computes
        them: a 7x7 adaptive average pool (the identity for 224-px inputs), then fc6; ``after_relu``
        applies relu6 (Caffe's in-place ReLU rectifies the blob called ``fc6``)."""
        if self.pre_logits is None:
            raise ValueError(f"VGG19 '{self.label}' was built without fc6")
        x = self.pre_logits.fc1(F.adaptive_avg_pool2d(pool5, (FC6_POOL, FC6_POOL))).flatten(1)
        return F.relu(x) if after_relu else x


def random_vgg(cfg: tuple[int | str, ...] = VGG19_CFG, *, seed: int = 0, label: str = "random",
               fc6: int = 0) -> VGG19Features:
    """A VGG19 stack with seeded He-normal weights (activations keep their scale through the 16 convs,
    so gradients stay usable): the tiny test model and the full-size benchmark model. ``fc6`` > 0 adds
    a seeded fc6 of that width, drawn after the convs (so the convs are those of ``fc6=0``)."""
    gen = torch.Generator().manual_seed(seed)
    model = VGG19Features(cfg, label=label, fc6=fc6)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    if model.pre_logits is not None:
        convs.append(model.pre_logits.fc1)
    with torch.no_grad():
        for module in convs:
            fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.01)
    return model


def tiny_vgg(seed: int = 0) -> VGG19Features:
    """A VGG19 stack with a few channels per conv, a 32-wide fc6 and seeded random weights (images not
    meaningful)."""
    from stylize.nst.layers import TINY_CFG

    return random_vgg(TINY_CFG, seed=seed, label="tiny", fc6=TINY_FC6_FEATURES)


def fc6_from_state(state: dict[str, torch.Tensor], channels: int) -> dict[str, torch.Tensor]:
    """The fc6 tensors of a checkpoint as ``pre_logits.fc1.*`` (B, C, 7, 7), from timm's names or
    torchvision's ``classifier.0.*`` (a Linear over C·7·7 inputs); {} when it has neither; ValueError
    for a shape that is not VGG19's fc6 over ``channels`` maps."""
    weight_key, bias_key = FC6_KEYS
    if weight_key in state:
        weight, bias = state[weight_key], state.get(bias_key)
    elif "classifier.0.weight" in state:
        weight, bias = state["classifier.0.weight"], state.get("classifier.0.bias")
        if weight.ndim == 2 and weight.shape[1] == channels * FC6_POOL * FC6_POOL:
            weight = weight.reshape(weight.shape[0], channels, FC6_POOL, FC6_POOL)
    else:
        return {}
    if tuple(weight.shape[1:]) != (channels, FC6_POOL, FC6_POOL) or bias is None or tuple(bias.shape) != weight.shape[:1]:
        raise ValueError(f"fc6 weight has shape {tuple(weight.shape)}, not (D, {channels}, 7, 7) with a (D,) bias")
    return {weight_key: weight, bias_key: bias}


def cfg_from_state(shapes: dict[str, tuple[int, ...]]) -> tuple[int | str, ...]:
    """The channel cfg of a ``features.N.weight`` state dict; ValueError if it is not VGG19's layout."""
    cfg: list[int | str] = []
    in_channels = 3
    for entry, index in zip(VGG19_CFG, _module_indices()):
        if entry == "M":
            cfg.append("M")
            continue
        key = f"features.{index}.weight"
        if key not in shapes:
            raise ValueError(f"no {key}: not a VGG19 'features' weight file")
        shape = shapes[key]
        if len(shape) != 4 or shape[1] != in_channels or tuple(shape[2:]) != (3, 3):
            raise ValueError(f"{key} has shape {tuple(shape)}, not a VGG19 3x3 conv from {in_channels} channels")
        cfg.append(int(shape[0]))
        in_channels = int(shape[0])
    return tuple(cfg)


def _module_indices() -> list[int]:
    indices, index = [], 0
    for entry in VGG19_CFG:
        indices.append(index)
        index += 1 if entry == "M" else 2
    return indices
