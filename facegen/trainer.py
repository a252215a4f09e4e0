"""One Council GAN training iteration for all members (official order: discriminators, council
discriminators, generators), with per-member Adam optimisers and the step learning-rate schedule.

Randomness comes from two seeded streams owned here (torch for z, Python for the choice of compared
members), so a checkpoint that stores them resumes exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn

from facegen import losses as L
from facegen.config import FaceGenConfig
from facegen.networks import build_member
from facegen.networks.generator import AdaINGen
from facegen.parallel import Parallel


def member_names(config: FaceGenConfig) -> list[str]:
    return [str(i) for i in range(config.council.council_size)]


@dataclass
class Batch:
    faces: torch.Tensor  # x_a, (B, 3, S, S) in [−1, 1]
    bodies: torch.Tensor  # x_b


class CouncilTrainer:
    """The networks, optimisers and random streams of a council; ``step`` runs one iteration."""

    def __init__(self, config: FaceGenConfig, device: torch.device | str = "cpu", *,
                 parallel: Parallel | None = None) -> None:
        self.config = config
        self.device = torch.device(device)
        # Several processes (facegen.parallel): gradients and reported losses are averaged over them.
        self.parallel = parallel or Parallel()
        n = config.council.council_size
        torch.manual_seed(config.train.seed)  # the initial weights
        members = [build_member(config) for _ in range(n)]
        self.gens = nn.ModuleList([m[0] for m in members]).to(self.device)
        self.dis = nn.ModuleList([m[1] for m in members]).to(self.device)
        self.dis_council = nn.ModuleList([m[2] for m in members]).to(self.device)
        o = config.optim

        def adam(module: nn.Module) -> torch.optim.Adam:
            return torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=o.lr,
                                    betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)

        self.gen_opts = [adam(g) for g in self.gens]
        self.dis_opts = [adam(d) for d in self.dis]
        self.dis_council_opts = [adam(d) for d in self.dis_council]
        self.matchers = [L.LossMatcher(config.loss.loss_matching_hist_size) for _ in range(n)]
        # The same streams on every process: z and the compared members agree, so rank 0's checkpoint
        # resumes every rank; the data differs per process (TrainRun.batches).
        self.z_rng = torch.Generator().manual_seed(config.train.seed + 1)
        self.py_rng = random.Random(config.train.seed + 2)
        self.parallel.broadcast([self.gens, self.dis, self.dis_council])

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.gens)

    def draw_z(self, batch: int) -> torch.Tensor:
        """Random vectors z ~ N(0, I), (B, style_dim, 1, 1), from the trainer's own stream."""
        z = torch.randn(batch, self.config.gen.style_dim, 1, 1, generator=self.z_rng)
        return z.to(self.device)

    def lr_at(self, iteration: int) -> float:
        """StepLR as the official trainer steps it once per iteration."""
        o = self.config.optim
        if o.lr_policy == "constant":
            return o.lr
        return o.lr * o.gamma ** (iteration // o.step_size)

    def _set_lr(self, iteration: int) -> None:
        lr = self.lr_at(iteration)
        for opt in self.gen_opts + self.dis_opts + self.dis_council_opts:
            for group in opt.param_groups:
                group["lr"] = lr

    def council_on(self, iteration: int) -> bool:
        k = self.config.council
        if self.size < 2 or self.config.loss.council_w == 0 and self.config.loss.council_abs_w == 0:
            return False
        return L.council_phase(iteration, start_at=k.start_at_iter, flip=k.flip_on_off, start_with=k.flip_start_with,
                               on=k.flip_on_iterations, off=k.flip_off_iterations)

    def focus_on(self, iteration: int) -> bool:
        return iteration > self.config.loss.focus_loss_start_at_iter

    # --- one iteration ---------------------------------------------------------------------------

    def step(self, iteration: int, batches: list[Batch]) -> dict[str, float]:
        """One training iteration; ``batches`` holds ``dis.relative_iterations`` batches: the
        discriminators train on each, the council discriminators and generators on the last.
        Returns every loss by name (per member ``…_{i}`` and averaged over members)."""
        self._set_lr(iteration)
        for p in self.gens.parameters():
            p.requires_grad_(True)
        out: dict[str, float] = {}
        for batch in batches:
            out.update(self.dis_update(batch))
        last = batches[-1]
        out.update(self.dis_council_update(iteration, last))
        out.update(self.gen_update(iteration, last))
        for name in ("dis", "council_dis", "gen_adv", "council_gen", "focus_zero_one", "focus_size", "mask_tv",
                     "gen_total"):
            vals = [out[f"{name}_{i}"] for i in range(self.size) if f"{name}_{i}" in out]
            if vals:
                out[name] = sum(vals) / len(vals)
        return out

    def dis_update(self, batch: Batch) -> dict[str, float]:
        """Each member's discriminator: its generator's translations (one shared z) vs real bodies."""
        x_a, x_b = batch.faces.to(self.device), batch.bodies.to(self.device)
        z = self.draw_z(x_a.size(0))
        out = {}
        for i in range(self.size):
            self.dis_opts[i].zero_grad(set_to_none=True)
            with torch.no_grad():
                fake, _ = self.gens[i](x_a, z)
            loss = L.lsgan_dis_loss(self.dis[i](fake), self.dis[i](x_b))
            (self.config.loss.gan_w * loss).backward()
            self.parallel.average_gradients(self.dis[i])
            self.dis_opts[i].step()
            out[f"dis_{i}"] = self.parallel.mean(loss)
        return out

    def dis_council_update(self, iteration: int, batch: Batch) -> dict[str, float]:
        """Council discriminator i: its own member's output (fake) vs other members' outputs with z
        scaled by α (real), on (image, input) pairs, over ``council.dis_iterations`` comparisons."""
        k = self.config.council
        if not self.council_on(iteration) or self.config.loss.council_w == 0 or k.dis_iterations == 0:
            return {}
        x_a = batch.faces.to(self.device)
        z = self.draw_z(x_a.size(0))
        with torch.no_grad():
            contents = [g.encode(x_a) for g in self.gens]
            own = [g.decode(c, z, x_a)[0] for g, c in zip(self.gens, contents)]
            if k.less_style_by != 0:
                others = [g.decode(c, z * k.less_style_by, x_a)[0] for g, c in zip(self.gens, contents)]
            else:
                others = own
        out = {}
        for i in range(self.size):
            self.dis_council_opts[i].zero_grad(set_to_none=True)
            choices: list[int] = []
            total = x_a.new_zeros(())
            for _ in range(min(k.dis_iterations, self.size)):
                if not choices:  # every other member once, then again in a new random order
                    choices = [j for j in range(self.size) if j != i]
                j = self.py_rng.choice(choices)
                choices.remove(j)
                total = total + L.lsgan_dis_loss(self.dis_council[i](own[i], x_a), self.dis_council[i](others[j], x_a))
            (self.config.loss.council_w * total / k.dis_iterations).backward()
            self.parallel.average_gradients(self.dis_council[i])
            self.dis_council_opts[i].step()
            out[f"council_dis_{i}"] = self.parallel.mean(total) / k.dis_iterations
        return out

    def gen_update(self, iteration: int, batch: Batch) -> dict[str, float]:
        """Each generator: GAN loss, focus loss on its masks, then the council loss."""
        lc = self.config.loss
        x_a = batch.faces.to(self.device)
        z = self.draw_z(x_a.size(0))
        for opt in self.gen_opts:
            opt.zero_grad(set_to_none=True)
        for d in list(self.dis) + list(self.dis_council):  # no gradient into discriminators here
            d.requires_grad_(False)
        out: dict[str, float] = {}
        fakes, totals = [], []
        try:
            for i, gen in enumerate(self.gens):
                fake, masks = gen(x_a, z)
                fakes.append(fake)
                total = x_a.new_zeros(())
                if self.focus_on(iteration):
                    if lc.mask_zero_or_one_w:
                        term = L.mask_zero_one(masks, lc.mask_zero_or_one_center, lc.mask_zero_or_one_epsilon)
                        total = total + lc.mask_zero_or_one_w * term
                        out[f"focus_zero_one_{i}"] = self.parallel.mean(term)
                    if lc.mask_total_w:
                        term = L.mask_small(masks, use_square=lc.mask_small_use_square, use_abs=lc.mask_small_use_abs)
                        total = total + lc.mask_total_w * term
                        out[f"focus_size_{i}"] = self.parallel.mean(term)
                    if lc.mask_tv_w:
                        term = L.mask_tv(masks)
                        total = total + lc.mask_tv_w * term
                        out[f"mask_tv_{i}"] = self.parallel.mean(term)
                if lc.abs_beginning_end:
                    w = max(lc.abs_beginning_end * lc.abs_beginning_end_less_by ** iteration, lc.abs_beginning_end_minimum)
                    if w > 0.005:
                        total = total + w * L.l1_or_l2(fake, x_a)
                adv = L.lsgan_gen_loss(self.dis[i](fake))
                adv_value = self.parallel.mean(adv)
                if lc.do_w_loss_matching:
                    self.matchers[i].push_gan(adv_value)
                total = total + lc.gan_w * adv
                out[f"gen_adv_{i}"] = adv_value
                totals.append(total)
            if self.council_on(iteration):
                for i in range(self.size):
                    council = x_a.new_zeros(())
                    if lc.council_w:
                        term = L.lsgan_gen_loss(self.dis_council[i](fakes[i], x_a))
                        weight = self.matchers[i].push_council(self.parallel.mean(term)) if lc.do_w_loss_matching else 1.0
                        council = council + lc.council_w * weight * term
                    if lc.council_abs_w:
                        j = self.py_rng.choice([m for m in range(self.size) if m != i])
                        crit = L.l1_gray if lc.council_abs_gray_scale else L.l1
                        council = council + lc.council_abs_w * crit(fakes[i], fakes[j].detach())
                    totals[i] = totals[i] + council
                    out[f"council_gen_{i}"] = self.parallel.mean(council)
            for i, total in enumerate(totals):
                total.backward()
                self.parallel.average_gradients(self.gens[i])
                self.gen_opts[i].step()
                out[f"gen_total_{i}"] = self.parallel.mean(total)
        finally:
            for d in list(self.dis) + list(self.dis_council):
                d.requires_grad_(True)
        return out

    # --- inference -------------------------------------------------------------------------------

    @torch.no_grad()
    def translate(self, faces: torch.Tensor, z: torch.Tensor, members: list[int] | None = None
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(images, masks) per member for faces (B, 3, S, S) and z (B, style_dim, 1, 1)."""
        return translate_with(list(self.gens), faces.to(self.device), z.to(self.device), members)


@torch.no_grad()
def translate_with(gens: list[AdaINGen], faces: torch.Tensor, z: torch.Tensor,
                   members: list[int] | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    results = []
    for i in members if members is not None else range(len(gens)):
        gen = gens[i]
        was_training = gen.training
        gen.eval()
        results.append(gen(faces, z))
        gen.train(was_training)
    return results
