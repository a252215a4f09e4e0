"""Command line: ``python -m stylize COMMAND ...``.

Commands come from the modules listed in ``COMMANDS.modules``; each registers its sub-commands with the
``@command(name, help, add_arguments)`` decorator below when imported. A listed module that does not
exist (yet) is skipped, so a back end adds its commands by creating its module and listing it here
(``stylize.sms.cli`` is listed for the SMS back end).

User errors (bad image, bad option, missing weights) print one line ``error: ...`` and exit with
status 2, without a stack trace.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from workbench.cli import CommandSet, check_out_file

__all__ = ["COMMANDS", "command", "check_out_file", "csv_list", "float_list", "main"]

COMMANDS = CommandSet(
    prog="python -m stylize",
    description="Style transfer back ends: Gatys neural style transfer, Neural Style Vectors of texture words, "
    "Style Matching Score.",
    modules=("stylize.nst.cli", "stylize.collection_cli", "stylize.sms.cli", "stylize.figures_cli",
             "stylize.study_cli"),
)
command = COMMANDS.command


def csv_list(text: str) -> tuple[str, ...]:
    """'a,b, c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def float_list(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), as an argparse type."""
    try:
        return tuple(float(part) for part in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status."""
    return COMMANDS.main(argv)
