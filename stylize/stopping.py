"""The stopping rules the style back ends offer: the generic drift rules over d_t and r_t to the content
image (fixed step, norm threshold, norm increase rate), read by ``--stop-on`` and the Stylize tab."""

from __future__ import annotations

import argparse

from workbench.errors import ConfigError
from workbench.stopping import StrategySet
from workbench.stopping.rules import GENERIC_RULES

STYLE_STRATEGIES = StrategySet(GENERIC_RULES)


def stop_on_arg(text: str) -> tuple[str, float | None]:
    """'norm_rate' or 'norm_rate=0.5' -> (name, param), as an argparse type."""
    try:
        return STYLE_STRATEGIES.parse_spec(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_stop_on(parser: argparse.ArgumentParser) -> None:
    """The ``--stop-on STRATEGY[=PARAM]`` option."""
    parser.add_argument("--stop-on", type=stop_on_arg, default=None, metavar="STRATEGY[=PARAM]",
                        help=f"stop the run when this rule fires: {', '.join(STYLE_STRATEGIES.names())}")
