"""What every back end's command line shares: a registry of sub-commands, checks of output paths made
before any work, and one-line errors with the usual exit statuses.

Exit statuses: 0 done, 2 a user error (one line ``error: ...``, no stack trace), 130 interrupted by
Ctrl-C (the steps made so far are kept by the run loop).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from workbench.errors import ConfigError, UserError

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    aliases: tuple[str, ...] = ()


@dataclass
class CommandSet:
    """The sub-commands of one ``python -m PACKAGE``; modules listed in ``modules`` register theirs with
    ``@commands.command(...)`` when imported (a listed module that does not exist is skipped)."""

    prog: str
    description: str
    modules: tuple[str, ...] = ()
    commands: dict[str, Command] = field(default_factory=dict)

    def command(self, name: str, help_text: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                aliases: Sequence[str] = ()) -> Callable[[Handler], Handler]:
        """Register a sub-command (decorator on its handler, which returns the exit status)."""

        def register(handler: Handler) -> Handler:
            self.commands[name] = Command(name, help_text, add_arguments, handler, tuple(aliases))
            return handler

        return register

    def load_modules(self) -> None:
        """Import every listed module that exists; one that fails to import leaves a warning, not a crash."""
        for module in self.modules:
            try:
                if importlib.util.find_spec(module) is None:
                    continue
            except ModuleNotFoundError:  # its package does not exist
                continue
            try:
                importlib.import_module(module)
            except Exception as exc:  # one broken back end must not take the other commands down
                print(f"warning: the commands of {module} are unavailable ({type(exc).__name__}: {exc})",
                      file=sys.stderr)

    def build_parser(self) -> argparse.ArgumentParser:
        """The parser with every registered command."""
        self.load_modules()
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        for cmd in self.commands.values():
            p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, aliases=list(cmd.aliases))
            cmd.add_arguments(p)
            p.set_defaults(handler=cmd.handler)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Parse the arguments and run one command; returns its exit status."""
        args = self.build_parser().parse_args(argv)
        return run_handler(args.handler, args)


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command's handler: user errors and refused paths become one line and status 2, Ctrl-C 130."""
    try:
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the system refused (a folder where a file goes, no permission, disk full)
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def describe_os_error(exc: OSError) -> str:
    """'<strerror>: <filename>' (or what the error has of them), on one line. For a two-path call
    (os.replace of a temporary file onto the target) the second path is the one the user named."""
    filename = exc.filename2 if exc.filename2 is not None else exc.filename
    if exc.errno == errno.ENOSPC:
        where = f" while writing {filename}" if filename is not None else ""
        return f"no space left on the disk{where}: free some space (or choose another --out) and run again"
    if exc.strerror and filename is not None:
        return f"{exc.strerror}: {filename}"
    return exc.strerror or str(exc) or type(exc).__name__


def check_out_file(path: Path, option: str = "--out", suffixes: Sequence[str] = ()) -> Path:
    """Fail before any work when ``path`` cannot be written as a file (it is a folder, has another
    suffix than ``suffixes``, or its folder cannot be created)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name such as RUN{suffixes[0] if suffixes else '.bundle'}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} must end in {' or '.join(suffixes)}")
    _check_creatable(path.parent, option)
    return path


def check_out_folder(path: Path, option: str = "--out") -> Path:
    """Fail before any work when ``path`` is not a folder and cannot be created as one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder")
    _check_creatable(path, option)
    return path


def _check_creatable(folder: Path, option: str) -> None:
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {folder}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {folder}: no permission to write in {existing}")
