"""A crash-safe append-only JSON Lines log: the storage of every store that must never lose an entry
(the pixel-art label store ``pixelart.labels``, the questionnaire's votes ``stylize.study_votes``).

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
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from filelock import FileLock, Timeout

from workbench.errors import UserError

LOCK_TIMEOUT_S = 30.0
# About 200,000 labels; what parsing it takes stays within a few hundred MB. A larger file is the wrong file.
MAX_LOG_BYTES = 64 << 20
MAX_LINE_BYTES = 1 << 20

ErrorClass = Callable[[str], Exception]


class LogError(UserError, ValueError):
    """A log file cannot be read or written (damaged line, wrong format, locked too long)."""


class JsonlLog:
    """One append-only JSON Lines file of records (dicts) with a format header.

    ``error`` is the exception class of every message (the store's own); ``kind`` names the file in
    messages ("labels file"), by default "<format> file".
    """

    def __init__(self, path: str | os.PathLike, fmt: str, version: int = 1, *,
                 error: ErrorClass = LogError, kind: str | None = None) -> None:
        self.path = Path(path)
        self.format, self.version, self.error = fmt, version, error
        self.kind = kind or f"{fmt} file"
        self._lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")), timeout=LOCK_TIMEOUT_S,
                              poll_interval=0.005)  # appends take milliseconds: retry soon

    @property
    def header(self) -> dict[str, Any]:
        """The first line of the file."""
        return {"format": self.format, "version": self.version}

    def numbered_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, record) of every complete record after the header; none when there is no file."""
        try:
            data = read_capped(self.path, self.error, self.kind)
        except FileNotFoundError:
            return iter(())
        except IsADirectoryError:
            raise self.error(f"{self.path} is a folder, not a {self.kind}") from None
        return parse_records(data, self.path.name, self.format, self.error, self.kind)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record after the header, in order (a torn last line is skipped)."""
        return [record for _, record in self.numbered_records()]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file lock (for read-check-append); a one-line error when another process holds it
        too long. Reentrant within one JsonlLog."""
        self.path.parent.mkdir(parents=True, exist_ok=True)  # the lock file lives beside the log
        try:
            self._lock.acquire()
        except Timeout:
            raise self.error(f"{self.path.name} is locked by another process for over {LOCK_TIMEOUT_S:.0f} s; "
                             "try again") from None
        try:
            yield
        finally:
            self._lock.release()

    def append(self, records: Iterable[dict[str, Any]],
               check: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        """Append records durably under the lock; ``check(existing records)`` may refuse first."""
        with self.locked():
            if check is not None:
                check(self.records())
            self.append_locked(records)

    def append_locked(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records as lines and fsync; the caller holds ``locked()``. Writes the header into a
        new file and repairs a torn tail first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            prefix = line(self.header) if fh.tell() == 0 else repair_tail(fh)
            try:
                write_durably(fh, prefix + b"".join(line(r) for r in records))
            except OSError as exc:  # e.g. a full disk: the error names the log file
                if exc.errno is None or exc.filename is not None:
                    raise
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc


def line(record: dict[str, Any]) -> bytes:
    """A record as one UTF-8 JSON line."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def write_durably(fh: Any, data: bytes) -> None:
    """Append bytes and make them durable (a module function, looked up at each call, so tests can
    interrupt it)."""
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


def parse_lines(data: bytes, name: str, error: ErrorClass = LogError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every complete line, header included.

    Recovery rule: the last line counts only if it ends with a newline or parses as a whole JSON
    object (a hand-edited file may lack the final newline). Damage anywhere else is reported; so is a
    line over ``MAX_LINE_BYTES`` or nested too deeply (what a hostile file would try).
    """
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:  # no record is that long: refused before parsing
            raise error(f"{name} line {number} is over {MAX_LINE_BYTES >> 20} MiB, longer than any record; "
                        "fix or delete that line")
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested absurdly deep
            if number == len(lines):
                return  # torn by an interrupted save: everything before it is intact
            raise error(f"{name} line {number} is damaged (not a JSON object); fix or delete that line") from None
        yield number, record


def parse_records(data: bytes, name: str, fmt: str, error: ErrorClass = LogError, kind: str | None = None
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every record after the header; a header naming another format is an
    error ("not a <kind>")."""
    for number, record in parse_lines(data, name, error):
        if "format" in record and "op" not in record:  # the header (records carry an "op")
            if record.get("format") != fmt:
                raise error(f"{name} is not a {kind or f'{fmt} file'} (format {record.get('format')!r})")
            continue
        yield number, record


def read_capped(path: Path, error: ErrorClass = LogError, kind: str = "log file") -> bytes:
    """A log file's bytes, refused when larger than any such file (before reading when its size shows
    it). FileNotFoundError and IsADirectoryError pass through for the caller to word."""
    path = Path(path)
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        too_big = st.st_size > MAX_LOG_BYTES
        if too_big:
            data = b""
        elif stat.S_ISREG(st.st_mode):
            data = fh.read()  # sized from st_size: a read(n) would allocate all n bytes up front
        else:
            data = fh.read(MAX_LOG_BYTES + 1)  # a pipe or device reports no size: never read past the cap
    if too_big or len(data) > MAX_LOG_BYTES:
        raise error(f"{path.name} is over {MAX_LOG_BYTES >> 20} MiB, more than any {kind}: is it the right file?")
    return data
