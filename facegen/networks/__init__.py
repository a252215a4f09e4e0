"""Council GAN networks in plain torch; module names follow the official code so its checkpoints load."""

from facegen.networks.blocks import AdaptiveInstanceNorm2d
from facegen.networks.discriminator import MsImageDis, MsImageDisCouncil
from facegen.networks.generator import AdaINGen, build_member, init_weights

__all__ = ["AdaINGen", "AdaptiveInstanceNorm2d", "MsImageDis", "MsImageDisCouncil", "build_member", "init_weights"]
