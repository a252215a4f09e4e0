"""Data-parallel training over several processes (several GPUs), started by a launcher:

    accelerate launch --multi_gpu --num_processes 4 -m facegen train FACES BODIES --out RUN ...
    torchrun --nproc_per_node 4 -m facegen train FACES BODIES --out RUN ...

Both launchers set RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. Every process builds the
same council from the same seed (and broadcasts rank 0's weights, to be sure), reads its own slice of
the data stream, and before every optimiser step the gradients of that network are averaged over the
processes (what DistributedDataParallel does, done by hand because members are called through their
own methods, encode / decode, which DDP does not wrap). Loss values are averaged too, so the loss
matchers, the random choices and the reported losses agree on every rank, and the checkpoint rank 0
writes resumes every rank exactly. Without a launcher (WORLD_SIZE unset or 1) nothing here runs.
Backend: NCCL on CUDA, Gloo on CPU (also how the tests run two processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from workbench.errors import ConfigError
from workbench.launcher import launch_env


@dataclass(frozen=True)
class Parallel:
    """This process's place among the launcher's processes; a single process by default."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files (checkpoints, config, curves)."""
        return self.rank == 0

    def average_gradients(self, module: nn.Module) -> None:
        """Average ``module``'s gradients over the processes in one all-reduce (no-op alone)."""
        if not self.active:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, value: torch.Tensor) -> float:
        """A scalar loss averaged over the processes, as a float (``float(value)`` alone)."""
        value = value.detach()
        if not self.active:
            return float(value)
        total = value.reshape(1).float().clone()
        torch.distributed.all_reduce(total)
        return float(total) / self.world_size

    def broadcast(self, modules: list[nn.Module]) -> None:
        """Rank 0's parameters and buffers on every process."""
        if not self.active:
            return
        for module in modules:
            for t in list(module.parameters()) + list(module.buffers()):
                torch.distributed.broadcast(t.data, src=0)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def from_env(env: Mapping[str, str] | None = None) -> Parallel:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun and accelerate set them (a single process without)."""
    launch = launch_env(env)
    return Parallel(launch.rank, launch.world_size, launch.local_rank)


def setup(parallel: Parallel, device: torch.device) -> torch.device:
    """Join the process group (once per process) and return this process's device: under a launcher on
    CUDA, GPU LOCAL_RANK."""
    if not parallel.active:
        return device
    if device.type == "cuda":
        index = parallel.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    if not torch.distributed.is_initialized():
        if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
            raise ConfigError("WORLD_SIZE > 1 but MASTER_ADDR / MASTER_PORT are not set: start the command "
                              "with `accelerate launch` or `torchrun`")
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                             rank=parallel.rank, world_size=parallel.world_size)
    return device


def teardown() -> None:
    """Leave the process group (end of a launched command)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
