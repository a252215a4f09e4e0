"""Multi-scale discriminators: the LSGAN image discriminator and the council discriminator.

Both run one small CNN per scale on the image and its 3×3 average-pooled halvings (official
``MsImageDis`` / ``MsImageDisCouncil``). The council discriminator sees (image, input face) stacked as 6
channels, starts with a stride-1 3×3 conv and ends with an extra 1×1 conv.
"""

from __future__ import annotations

import torch
from torch import nn

from facegen.config import DisConfig
from facegen.networks.blocks import Conv2dBlock


def _downsample() -> nn.Module:
    return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


class MsImageDis(nn.Module):
    """Image → one patch map of scores per scale."""

    def __init__(self, input_dim: int, cfg: DisConfig) -> None:
        super().__init__()
        self.downsample = _downsample()
        self.cnns = nn.ModuleList([self._make_net(input_dim, cfg) for _ in range(cfg.num_scales)])

    @staticmethod
    def _make_net(input_dim: int, cfg: DisConfig) -> nn.Sequential:
        dim = cfg.dim
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 4, 2, 1, norm="none", activ=cfg.activ, pad_type=cfg.pad_type)]
        for _ in range(cfg.n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm=cfg.norm, activ=cfg.activ, pad_type=cfg.pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for net in self.cnns:
            outputs.append(net(x))
            x = self.downsample(x)
        return outputs


class MsImageDisCouncil(MsImageDis):
    """(image, input) pair → one patch map of scores per scale: was the image made by *this* member?
    The same scales and module names as ``MsImageDis``; each scale's network differs."""

    @staticmethod
    def _make_net(input_dim: int, cfg: DisConfig) -> nn.Sequential:
        dim = cfg.dim
        layers: list[nn.Module] = [
            Conv2dBlock(2 * input_dim, dim, 3, 1, 1, norm="none", activ=cfg.activ, pad_type=cfg.pad_type)]
        for _ in range(cfg.n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm=cfg.norm, activ=cfg.activ, pad_type=cfg.pad_type))
            dim *= 2
        layers += [nn.Conv2d(dim, dim, 1, 1, 0), nn.Conv2d(dim, 1, 1, 1, 0)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, x_input: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        outputs = []
        for net in self.cnns:
            outputs.append(net(torch.cat((x, x_input), 1)))
            x, x_input = self.downsample(x), self.downsample(x_input)
        return outputs
