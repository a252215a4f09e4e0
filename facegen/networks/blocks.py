"""Building blocks: convolution / linear blocks, residual blocks, adaptive instance normalisation.

Attribute names (``pad``, ``norm``, ``activation``, ``conv`` / ``fc``, ``model``) are those of the
official Council GAN (MUNIT-derived) code, because they make the checkpoint keys.
"""

from __future__ import annotations

import torch
from torch import nn


def activation(name: str) -> nn.Module | None:
    """The activation layer for a config name ('none' gives None)."""
    layers = {
        "relu": lambda: nn.ReLU(inplace=True),
        "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
        "prelu": nn.PReLU,
        "selu": lambda: nn.SELU(inplace=True),
        "tanh": nn.Tanh,
    }
    if name == "none":
        return None
    if name not in layers:
        raise ValueError(f"unsupported activation '{name}'")
    return layers[name]()


def padding(kind: str, size: int) -> nn.Module:
    """Zero, reflection or replication padding of ``size`` pixels."""
    layers = {"zero": nn.ZeroPad2d, "reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}
    if kind not in layers:
        raise ValueError(f"unsupported padding '{kind}'")
    return layers[kind](size)


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance normalisation whose per-sample scale and shift come from outside (the MLP of z).

    y = (x − mean_hw(x)) / sqrt(var_hw(x) + eps) · std + mean, with the biased variance over each
    sample's channel. ``running_mean`` / ``running_var`` are never used: they exist only because the
    official layer registers them, so its checkpoints carry them.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``params``: (B, 2C), the shift (mean) then the scale (std), as the official layout."""
        shift, scale = params[:, : self.num_features], params[:, self.num_features:]
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        normed = (x - mean) * torch.rsqrt(var + self.eps)
        return normed * scale[:, :, None, None] + shift[:, :, None, None]

    def extra_repr(self) -> str:
        return str(self.num_features)


def normalisation(kind: str, channels: int) -> nn.Module | None:
    """The norm layer of a block: 'in' (instance, no affine), 'bn', 'adain' or 'none'."""
    if kind == "in":
        return nn.InstanceNorm2d(channels)
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "adain":
        return AdaptiveInstanceNorm2d(channels)
    if kind == "none":
        return None
    raise ValueError(f"unsupported normalisation '{kind}'")


class Conv2dBlock(nn.Module):
    """pad → conv → norm → activation."""

    def __init__(self, input_dim: int, output_dim: int, kernel_size: int, stride: int, padding_px: int = 0, *,
                 norm: str = "none", activ: str = "relu", pad_type: str = "zero") -> None:
        super().__init__()
        self.pad = padding(pad_type, padding_px)
        self.norm = normalisation(norm, output_dim)
        self.activation = activation(activ)
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, stride, bias=True)

    @property
    def adaptive(self) -> bool:
        return isinstance(self.norm, AdaptiveInstanceNorm2d)

    def forward(self, x: torch.Tensor, adain: "AdainFeed | None" = None) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.adaptive:
            if adain is None:
                raise ValueError("this block needs AdaIN parameters")
            x = self.norm(x, adain.take(self.norm.num_features))  # type: ignore[union-attr]
        elif self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class LinearBlock(nn.Module):
    """fc → activation (the MLP has no normalisation in Council GAN)."""

    def __init__(self, input_dim: int, output_dim: int, activ: str = "relu") -> None:
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim, bias=True)
        self.activation = activation(activ)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class MLP(nn.Module):
    """z → AdaIN parameters: ``n_blk`` linear blocks, the last without activation."""

    def __init__(self, input_dim: int, output_dim: int, dim: int, n_blk: int = 3, activ: str = "relu") -> None:
        super().__init__()
        layers = [LinearBlock(input_dim, dim, activ)]
        layers += [LinearBlock(dim, dim, activ) for _ in range(n_blk - 2)]
        layers += [LinearBlock(dim, output_dim, "none")]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.reshape(z.size(0), -1))


class AdaINSequential(nn.Sequential):
    """A sequential whose blocks may take AdaIN parameters, handed out in module order."""

    def forward(self, x: torch.Tensor, adain: "AdainFeed | None" = None) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            if isinstance(layer, (Conv2dBlock, ResBlock, ResBlocks)):
                x = layer(x, adain)
            else:
                x = layer(x)
        return x


class AdainFeed:
    """Slices the MLP's output into each AdaIN layer's (shift, scale), in the order layers ask."""

    def __init__(self, params: torch.Tensor) -> None:
        self.params = params
        self.offset = 0

    def take(self, channels: int) -> torch.Tensor:
        out = self.params[:, self.offset: self.offset + 2 * channels]
        self.offset += 2 * channels
        return out


class ResBlock(nn.Module):
    """x + conv-norm-activ → conv-norm."""

    def __init__(self, dim: int, norm: str = "in", activ: str = "relu", pad_type: str = "zero") -> None:
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ=activ, pad_type=pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ="none", pad_type=pad_type),
        )

    def forward(self, x: torch.Tensor, adain: AdainFeed | None = None) -> torch.Tensor:
        out = x
        for block in self.model:
            out = block(out, adain)
        return out + x


class ResBlocks(nn.Module):
    def __init__(self, num_blocks: int, dim: int, norm: str = "in", activ: str = "relu", pad_type: str = "zero") -> None:
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm, activ, pad_type) for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor, adain: AdainFeed | None = None) -> torch.Tensor:
        for block in self.model:
            x = block(x, adain)
        return x


def count_adain_params(module: nn.Module) -> int:
    """How many numbers the MLP must produce: 2 per channel of every AdaIN layer."""
    return sum(2 * m.num_features for m in module.modules() if isinstance(m, AdaptiveInstanceNorm2d))
