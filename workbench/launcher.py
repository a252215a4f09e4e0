"""This process's place among the processes of a multi-process launch (``torchrun``, ``accelerate
launch``), read from the environment both launchers set: RANK, WORLD_SIZE, LOCAL_RANK.

One reader for every command that can be launched that way (``pixelart batch`` shards its photos,
``facegen train`` averages gradients), so they agree on defaults and on what a malformed value says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from workbench.errors import ConfigError


@dataclass(frozen=True)
class LaunchEnv:
    """Rank of this process, how many there are, and its rank on this machine (its GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def launch_env(env: Mapping[str, str] | None = None) -> LaunchEnv:
    """RANK / WORLD_SIZE / LOCAL_RANK from ``env`` (default ``os.environ``); a single process without them.

    LOCAL_RANK defaults to RANK (one machine). Raises ConfigError, one line, when a value is not a
    whole number or the three do not fit together.
    """
    env = os.environ if env is None else env
    world = _whole(env, "WORLD_SIZE", "1")
    rank = _whole(env, "RANK", "0")
    local = _whole(env, "LOCAL_RANK", str(rank))
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"bad launcher environment: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local} "
                          "(need WORLD_SIZE >= 1, 0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0)")
    return LaunchEnv(rank, world, local)


def _whole(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, default)
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} from the launcher: RANK, WORLD_SIZE and LOCAL_RANK must be whole "
                          "numbers") from None
