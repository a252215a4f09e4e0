"""A crash-safe append-only JSON Lines log: the storage of every store that must never lose an entry
(the questionnaire's votes; the same design as the pixel-art label store, ``pixelart.labels``).

Why append-only: a save appends one line and fsyncs it, so an interrupted save can only leave a torn
*last* line, which readers skip (the recovery rule) and the next writer cuts off before appending;
every earlier line is untouched and the history stays readable. Writers hold a file lock
(``filelock``) around read-check-append so two processes never interleave; readers need no lock.

The first line is a header ``{"format": FORMAT, "version": N}`` naming what the file holds; every
record carries an ``"op"`` field (what it records), which tells it from the header.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from workbench.errors import UserError

LOCK_TIMEOUT_S = 30.0
MAX_LOG_BYTES = 64 << 20  # far more than any store here; a larger file is the wrong file
MAX_LINE_BYTES = 1 << 20


class LogError(UserError, ValueError):
    """A log file cannot be read or written (damaged line, wrong format, locked too long)."""


class JsonlLog:
    """One append-only JSON Lines file of records (dicts) with a format header."""

    def __init__(self, path: str | os.PathLike, fmt: str, version: int = 1, *,
                 error: Callable[[str], Exception] = LogError) -> None:
        self.path = Path(path)
        self.format, self.version, self.error = fmt, version, error
        self._lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")), timeout=LOCK_TIMEOUT_S,
                              poll_interval=0.005)  # appends take milliseconds: retry soon

    def records(self) -> list[dict[str, Any]]:
        """Every complete record after the header, in order (a torn last line is skipped)."""
        try:
            data = _read_capped(self.path, self.error)
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            raise self.error(f"{self.path} is a folder, not a {self.format} file") from None
        out = []
        for number, record in parse_lines(data, self.path.name, self.error):
            if "format" in record and "op" not in record:  # the header (records carry an "op")
                if record["format"] != self.format:
                    raise self.error(f"{self.path.name} is not a {self.format} file (format {record['format']!r})")
                continue
            out.append(record)
        return out

    def append(self, records: list[dict[str, Any]], check: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        """Append records durably under the lock; ``check(existing records)`` may refuse first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise self.error(f"{self.path.name} is locked by another process for over {LOCK_TIMEOUT_S:.0f} s; "
                             "try again") from None
        try:
            if check is not None:
                check(self.records())
            with open(self.path, "a+b") as fh:
                fh.seek(0, os.SEEK_END)
                prefix = line({"format": self.format, "version": self.version}) if fh.tell() == 0 else repair_tail(fh)
                write_durably(fh, prefix + b"".join(line(r) for r in records))
        finally:
            self._lock.release()


def line(record: dict[str, Any]) -> bytes:
    """A record as one UTF-8 JSON line."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def write_durably(fh: Any, data: bytes) -> None:
    """Append bytes and make them durable (a separate function so tests can interrupt it)."""
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def repair_tail(fh: Any) -> bytes:
    """Bytes to write before new lines so they start a fresh line (truncates a torn last line; a whole
    record lacking only its newline, as a hand edit leaves it, is kept)."""
    size = fh.tell()
    fh.seek(max(0, size - 1))
    if fh.read(1) == b"\n":
        return b""
    fh.seek(0)
    data = fh.read()
    cut = data.rfind(b"\n") + 1
    try:
        if isinstance(json.loads(data[cut:].decode("utf-8")), dict):
            return b"\n"
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    fh.truncate(cut)
    fh.seek(0, os.SEEK_END)
    return b""


def parse_lines(data: bytes, name: str, error: Callable[[str], Exception] = LogError
                ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every complete line. The last line counts only if it parses as a
    whole JSON object (a torn one is skipped); damage anywhere else is reported."""
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            raise error(f"{name} line {number} is over {MAX_LINE_BYTES >> 20} MiB; fix or delete that line")
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError, RecursionError):
            if number == len(lines):
                return  # torn by an interrupted save: everything before it is intact
            raise error(f"{name} line {number} is damaged (not a JSON object); fix or delete that line") from None
        yield number, record


def _read_capped(path: Path, error: Callable[[str], Exception]) -> bytes:
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size > MAX_LOG_BYTES:
            raise error(f"{path.name} is over {MAX_LOG_BYTES >> 20} MiB: is it the right file?")
        return fh.read()
