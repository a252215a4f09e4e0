"""Council GAN losses, one pure function per formula (official ``trainer_council.py`` / paper eq. 2-4).

Notation: D(·) is a list of patch score maps, one per scale; means are over all elements of a map.

* LSGAN, discriminator:   Σ_s mean(D_s(fake)²) + mean((D_s(real) − 1)²)
* LSGAN, generator:       Σ_s mean((D_s(fake) − 1)²)
* council, discriminator i (its own member's output is "fake", another member's output with z scaled
  by α = ``less_style_by`` is "real"):  the LSGAN discriminator loss of D̂_i on (G_i(x, z), x) vs
  (G_j(x, α z), x), averaged over the compared members j and weighted by ``council_w``
* council, generator i:   council_w · w_match · LSGAN generator loss of D̂_i on (G_i(x, z), x)
  (G_i learns to look like the others), w_match = mean(last GAN losses) / mean(last council losses)
* focus, binary term:     Σ_k 1 / (|m_k − c| + ε) / numel(m)        (c = 0.5, ε = 0.01)
* focus, size term:       (Σ_k m_k / numel(m))² (square) + |Σ_k m_k| / numel(m) (abs)
* mask total variation:   (Σ|m[h+1] − m[h]| + Σ|m[w+1] − m[w]|) / numel(m)
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import torch


def lsgan_dis_loss(fake_outs: Sequence[torch.Tensor], real_outs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Discriminator LSGAN loss summed over scales (fake → 0, real → 1)."""
    return sum(torch.mean(f ** 2) + torch.mean((r - 1) ** 2) for f, r in zip(fake_outs, real_outs))  # type: ignore[return-value]


def lsgan_gen_loss(fake_outs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Generator LSGAN loss summed over scales (fake → 1)."""
    return sum(torch.mean((f - 1) ** 2) for f in fake_outs)  # type: ignore[return-value]


def mask_zero_one(mask: torch.Tensor, center: float = 0.5, epsilon: float = 0.01) -> torch.Tensor:
    """Focus loss, binary term: large when mask values sit near ``center``."""
    return torch.sum(1.0 / (torch.abs(mask - center) + epsilon)) / mask.numel()


def mask_small(mask: torch.Tensor, *, use_square: bool = True, use_abs: bool = False) -> torch.Tensor:
    """Focus loss, size term: the squared (and / or absolute) mean of the mask."""
    loss = mask.new_zeros(())
    if use_abs:
        loss = loss + torch.abs(torch.sum(mask)) / mask.numel()
    if use_square:
        loss = loss + (torch.sum(mask) / mask.numel()) ** 2
    return loss


def mask_tv(mask: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation of the mask, divided by its number of elements."""
    dh = torch.sum(torch.abs(mask[:, :, 1:, :] - mask[:, :, :-1, :]))
    dw = torch.sum(torch.abs(mask[:, :, :, 1:] - mask[:, :, :, :-1]))
    return (dh + dw) / mask.numel()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(a - b))


def l1_gray(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between channel sums (the official council_abs_gray_scale criterion)."""
    return torch.mean(torch.abs(a.sum(1) - b.sum(1)))


def l1_or_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(mean |a − b|, mean (a − b)²): the official input-output 'abs_beginning_end' criterion."""
    return torch.maximum(torch.mean(torch.abs(a - b)), torch.mean((a - b) ** 2))


def council_phase(iteration: int, *, start_at: int, flip: bool, start_with: bool, on: int, off: int) -> bool:
    """Whether the council loss is on at ``iteration``: from ``start_at`` on, optionally flipping on
    for ``on`` and off for ``off`` iterations (starting with ``start_with``)."""
    if iteration < start_at:
        return False
    if not flip:
        return True
    first = on if start_with else off
    return start_with if iteration % (on + off) < first else not start_with


class LossMatcher:
    """Matches the council loss's scale to the GAN loss's: w = mean(GAN history) / mean(council history).

    Both histories start as ``size`` ones (official ``deque(np.ones(hist_size))``) and take each new
    value as the oldest leaves.
    """

    def __init__(self, size: int) -> None:
        self.gan: deque[float] = deque([1.0] * size, maxlen=size)
        self.council: deque[float] = deque([1.0] * size, maxlen=size)

    def push_gan(self, value: float) -> None:
        self.gan.append(float(value))

    def push_council(self, value: float) -> float:
        """Record a council loss value and return the weight to apply to it."""
        self.council.append(float(value))
        return (sum(self.gan) / len(self.gan)) / (sum(self.council) / len(self.council))

    def state(self) -> torch.Tensor:
        return torch.tensor([list(self.gan), list(self.council)], dtype=torch.float64)

    def load_state(self, tensor: torch.Tensor) -> None:
        gan, council = tensor.tolist()
        if len(gan) != self.gan.maxlen:
            raise ValueError("loss history size differs from the config's loss_matching_hist_size")
        self.gan.clear(); self.gan.extend(gan)
        self.council.clear(); self.council.extend(council)
