"""Timesteps of SMS: the adaptive narrowing schedule and the weighting w(t) = sigma_t^2.

As in the authors' code, timesteps come from a DDIM grid of ``n`` inference steps (SD 1.5's "leading"
spacing with offset 1 gives t = 1, 3, ..., 999 for n = 500). At iteration i of N the grid index is
drawn uniformly from [lo, hi) with

    lo = int(n * min_ratio)          (1 when min_ratio <= 0)
    hi = max(int(n * max_ratio * (1 - i / N)), lo + 1)

so the upper bound shrinks from t ~ 500 to the lower bound over the run. The fake-score LoRA update draws
with the full upper bound (``progress=None``: hi = int(n * max_ratio)). The weighting is the DDPM
posterior variance between the drawn grid point t and the one below it, t_prev:

    w(t) = sigma_t^2 = (1 - abar_{t_prev}) / (1 - abar_t) * beta_t
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Draw:
    """One sampled timestep: its grid index, the timestep, the one below it, and w(t)."""

    index: int
    t: int
    t_prev: int
    weight: float


def inference_timesteps(scheduler_config: dict, n: int) -> torch.Tensor:
    """The ascending DDIM grid of ``n`` timesteps for a model's scheduler config."""
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler_config)
    ddim.set_timesteps(n)
    return ddim.timesteps.flip(0).to(torch.long).cpu()


def index_bounds(n: int, min_ratio: float, max_ratio: float, progress: float | None) -> tuple[int, int]:
    """[lo, hi) of grid indices at ``progress`` = i / N in [0, 1) (None: the full range)."""
    lo = 1 if min_ratio <= 0 else int(n * min_ratio)
    hi = int(n * max_ratio) if progress is None else int(n * (max_ratio * (1.0 - progress)))  # authors' order
    return lo, max(hi, lo + 1)


def posterior_variance(betas: torch.Tensor, alphas_cumprod: torch.Tensor, t: int, t_prev: int) -> float:
    """sigma_t^2 = (1 - abar_{t_prev}) / (1 - abar_t) * beta_t."""
    return float((1.0 - alphas_cumprod[t_prev]) / (1.0 - alphas_cumprod[t]) * betas[t])


class TimestepSampler:
    """Draws timesteps on the DDIM grid with a seeded CPU generator (independent of the noise)."""

    def __init__(self, scheduler_config: dict, *, n: int, min_ratio: float, max_ratio: float, seed: int) -> None:
        from diffusers import DDPMScheduler

        self.grid = inference_timesteps(scheduler_config, n)
        betas_source = DDPMScheduler.from_config(scheduler_config)
        self.betas = betas_source.betas.double()
        self.alphas_cumprod = betas_source.alphas_cumprod.double()
        self.n, self.min_ratio, self.max_ratio = n, min_ratio, max_ratio
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, progress: float | None) -> Draw:
        """One timestep at ``progress`` (i / N for the latent update, None for the LoRA update)."""
        lo, hi = index_bounds(self.n, self.min_ratio, self.max_ratio, progress)
        index = int(torch.randint(lo, hi, (1,), generator=self.generator).item())
        t, t_prev = int(self.grid[index]), int(self.grid[index - 1])
        return Draw(index, t, t_prev, posterior_variance(self.betas, self.alphas_cumprod, t, t_prev))
