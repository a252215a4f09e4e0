"""The council member's generator: content encoder, AdaIN decoder with blending masks, z → AdaIN MLP.

x_a ─enc_content─▶ c ─dec(AdaIN params = mlp(z))─▶ K candidate images o_k and K masks m_k;
the output starts as the input and is blended in turn: y ← (1 − m_k)·y + m_k·o_k (k = 1..K).
Where the masks are 0 the input shows through; the focus loss pushes masks to 0 or 1 and small.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from facegen.config import FaceGenConfig, GenConfig
from facegen.networks.blocks import MLP, AdainFeed, AdaINSequential, Conv2dBlock, ResBlocks, count_adain_params


class StyleEncoder(nn.Module):
    """Image → style code (global average pooled). Council GAN draws z instead; kept for its keys."""

    def __init__(self, n_downsample: int, input_dim: int, dim: int, style_dim: int, activ: str, pad_type: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm="none", activ=activ, pad_type=pad_type)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm="none", activ=activ, pad_type=pad_type))
            dim *= 2
        for _ in range(n_downsample - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, norm="none", activ=activ, pad_type=pad_type))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """7×7 conv, ``n_downsample`` strided 4×4 convs, ``n_res`` residual blocks; instance norm throughout."""

    def __init__(self, n_downsample: int, n_res: int, input_dim: int, dim: int, activ: str, pad_type: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm="in", activ=activ, pad_type=pad_type)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm="in", activ=activ, pad_type=pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", activ, pad_type))
        self.model = AdaINSequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MaskedDecoder(nn.Module):
    """AdaIN residual blocks, (nearest ×2, 3×3 conv, 3×3 conv) per upsampling, two 1×1 convs and a
    1×1 tanh head giving K RGB candidates and K masks (official ``Decoder_V2_atten``)."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, output_dim: int, activ: str, pad_type: str,
                 num_masks: int) -> None:
        super().__init__()
        self.output_dim = output_dim
        self.num_masks = num_masks
        layers: list[nn.Module] = [ResBlocks(n_res, dim, "adain", activ, pad_type)]
        for _ in range(n_upsample):
            layers.append(nn.Upsample(scale_factor=2))
            layers.append(Conv2dBlock(dim, dim // 2, 3, 1, 1, norm="adain", activ=activ, pad_type=pad_type))
            dim //= 2
            layers.append(Conv2dBlock(dim, dim, 3, 1, 1, norm="adain", activ=activ, pad_type=pad_type))
        layers.append(Conv2dBlock(dim, dim, 1, 1, 0, norm="none", activ=activ, pad_type=pad_type))
        layers.append(Conv2dBlock(dim, dim, 1, 1, 0, norm="none", activ=activ, pad_type=pad_type))
        layers.append(Conv2dBlock(dim, output_dim * num_masks + num_masks, 1, 1, 0, norm="none", activ="tanh",
                                  pad_type=pad_type))
        self.model = AdaINSequential(*layers)

    def forward(self, content: torch.Tensor, adain_params: torch.Tensor,
                image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The blended image (B, 3, H, W) and the raw masks (B, K, H, W) in [0, 1]."""
        feed = AdainFeed(adain_params)
        raw = self.model(content, feed)
        k, c = self.num_masks, self.output_dim
        # raw is already tanh'd; the second, steep tanh pushes masks towards 0 or 1 (official formula)
        masks = (torch.tanh(10 * raw[:, -k:]) + 1) / 2
        out = image
        for i in range(k):
            m = masks[:, i: i + 1]
            out = (1 - m) * out + m * raw[:, i * c: (i + 1) * c]
        return out, masks


class AdaINGen(nn.Module):
    """One council member's generator (official ``AdaINGen`` with ``do_my_style: False``)."""

    def __init__(self, cfg: GenConfig) -> None:
        super().__init__()
        self.style_dim = cfg.style_dim
        self.enc_style = StyleEncoder(4, cfg.input_dim, cfg.dim, cfg.style_dim, cfg.activ, cfg.pad_type)
        self.enc_content = ContentEncoder(cfg.n_downsample, cfg.n_res, cfg.input_dim, cfg.dim, cfg.activ, cfg.pad_type)
        self.dec = MaskedDecoder(cfg.n_downsample, cfg.n_res, self.enc_content.output_dim, cfg.input_dim, cfg.activ,
                                 cfg.pad_type, cfg.num_of_mask_dim_to_add)
        self.mlp = MLP(cfg.style_dim, count_adain_params(self.dec), cfg.mlp_dim, 3, cfg.activ)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The content code."""
        return self.enc_content(images)

    def encode_style(self, images: torch.Tensor) -> torch.Tensor:
        return self.enc_style(images)

    def decode(self, content: torch.Tensor, z: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(translated image, masks) for content codes, random vectors z (B, style_dim[, 1, 1]) and inputs."""
        return self.dec(content, self.mlp(z), images)

    def forward(self, images: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(self.encode(images), z, images)


def init_weights(module: nn.Module, kind: str) -> None:
    """Official ``weights_init``: every Conv2d / Linear weight by ``kind``, biases zero."""
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if kind == "gaussian":
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif kind == "xavier":
            nn.init.xavier_normal_(m.weight, gain=math.sqrt(2))
        elif kind == "kaiming":
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
        elif kind == "orthogonal":
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
        elif kind != "default":
            raise ValueError(f"unsupported init '{kind}'")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def build_member(config: FaceGenConfig) -> tuple[AdaINGen, nn.Module, nn.Module]:
    """(generator, discriminator, council discriminator) of one member, initialised like the official
    trainer (generator by ``gen.init``, both discriminators Gaussian N(0, 0.02))."""
    from facegen.networks.discriminator import MsImageDis, MsImageDisCouncil

    gen = AdaINGen(config.gen)
    dis = MsImageDis(config.gen.input_dim, config.dis)
    dis_council = MsImageDisCouncil(config.gen.input_dim, config.dis)
    init_weights(gen, config.gen.init)
    init_weights(dis, "gaussian")
    init_weights(dis_council, "gaussian")
    return gen, dis, dis_council


def parameters_of(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]
