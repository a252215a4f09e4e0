"""Command line: ``python -m stylize COMMAND ...``.

Commands come from the modules listed in ``COMMAND_MODULES``; each registers its sub-commands with the
``@command(name, help, add_arguments)`` decorator below when imported. A listed module that does not
exist (yet) is skipped, so a back end adds its commands by creating its module and listing it here
(``stylize.sms.cli`` is listed for the SMS back end).

User errors (bad image, bad option, missing weights) print one line ``error: ...`` and exit with
status 2, without a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from workbench.errors import ConfigError, UserError

COMMAND_MODULES: tuple[str, ...] = ("stylize.nst.cli", "stylize.collection_cli", "stylize.sms.cli")

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    aliases: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {}


def command(name: str, help_text: str, add_arguments: Callable[[argparse.ArgumentParser], None],
            aliases: Sequence[str] = ()) -> Callable[[Handler], Handler]:
    """Register a sub-command (decorator on its handler, which returns the exit status)."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, help_text, add_arguments, handler, tuple(aliases))
        return handler

    return register


def load_command_modules() -> None:
    """Import every module of ``COMMAND_MODULES`` that exists."""
    for module in COMMAND_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:  # its package does not exist
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # one broken back end must not take the others' commands down
            print(f"warning: the commands of {module} are unavailable ({type(exc).__name__}: {exc})",
                  file=sys.stderr)


# -- helpers shared by the commands -----------------------------------------------------------------
def check_out_file(path: Path, option: str = "--out", suffixes: Sequence[str] = ()) -> Path:
    """Fail before any work when ``path`` cannot be written as a file of one of ``suffixes``."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} must end in {' or '.join(suffixes)}")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"{option} {path}: cannot create files in {folder}")
    return path


def csv_list(text: str) -> tuple[str, ...]:
    """'a,b, c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def float_list(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), as an argparse type."""
    try:
        return tuple(float(part) for part in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered command."""
    load_command_modules()
    parser = argparse.ArgumentParser(prog="python -m stylize", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, aliases=list(cmd.aliases))
        cmd.add_arguments(p)
        p.set_defaults(handler=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
