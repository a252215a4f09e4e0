"""VGG19's layer names and their positions in torchvision's ``features`` stack (torch-free).

torchvision's ``vgg19().features`` (and timm's ``vgg19``, which keeps its layout) is one
``nn.Sequential`` of 16 3x3 convolutions, each followed by a ReLU, with a 2x2 max pool after each of
the five blocks: 37 modules, so a weight file holds ``features.0.weight`` ... ``features.34.bias``.
Layers are named as in Gatys et al. and Caffe: ``conv{block}_{i}`` and ``pool{block}``.
"""

from __future__ import annotations

# Output channels per conv, "M" for a max pool: torchvision's cfg "E" (VGG19).
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
# The same stack with a few channels per conv: tests and the labelled "tiny" model.
TINY_CFG: tuple[int | str, ...] = (
    4, 4, "M", 8, 8, "M", 8, 8, 8, 8, "M",
    16, 16, 16, 16, "M", 16, 16, 16, 16, "M",
)


def _layer_table(cfg: tuple[int | str, ...]) -> dict[str, tuple[int, int]]:
    """name -> (index of the conv or pool in ``features``, index of its ReLU or -1 for a pool)."""
    table: dict[str, tuple[int, int]] = {}
    index, block, conv = 0, 1, 1
    for entry in cfg:
        if entry == "M":
            table[f"pool{block}"] = (index, -1)
            index += 1
            block, conv = block + 1, 1
        else:
            table[f"conv{block}_{conv}"] = (index, index + 1)
            index += 2
            conv += 1
    return table


LAYERS: dict[str, tuple[int, int]] = _layer_table(VGG19_CFG)
LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)
CONV_INDICES: tuple[int, ...] = tuple(i for name, (i, _) in LAYERS.items() if name.startswith("conv"))
NUM_MODULES = 37


def check_layer(name: str, what: str = "layer") -> str:
    """The layer name, or a one-line ConfigError listing the valid names."""
    from workbench.errors import ConfigError

    if name not in LAYERS:
        raise ConfigError(
            f"{what} '{name}' does not exist in VGG19; use one of conv1_1 … conv5_4 "
            f"(conv{{block}}_{{i}}: blocks 1-2 have 2 convs, 3-5 have 4) or pool1 … pool5"
        )
    return name


def depth(names: list[str] | tuple[str, ...]) -> int:
    """How many ``features`` modules a forward pass must run to reach all ``names`` (after the ReLU)."""
    return max(max(LAYERS[n][0], LAYERS[n][1]) for n in names) + 1
