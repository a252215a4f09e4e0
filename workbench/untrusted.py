"""Reading files from strangers (uploaded bundles, label files, checkpoints) with every size checked
before anything is allocated.

A zip's central directory states each member's inflated size, and ``zipfile`` never inflates past it
(it then fails the CRC check), so a member whose stated size is within a limit cannot inflate beyond
it. Every helper here raises ``Refused`` with a short reason; the caller prefixes the user's file name
and turns it into its own one-line ``UserError``.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections import Counter
from typing import Any

import numpy as np
from PIL import Image

from workbench.images import _SIGNATURES  # the image formats people upload by mistake, said by name

MAX_JSON_DEPTH = 64  # bundle manifests and label lines nest a few levels; Python's parser recurses
MAX_ZIP_MEMBERS = 64
MAX_ZIP_DIRECTORY = 1 << 20  # bytes of central directory: ZipFile keeps one object per member
_NPY_HEADER = 4096
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what bundles and .npz files are written with  # an .npy header is a magic string and a short dict literal


class Refused(ValueError):
    """A file (or one of its parts) is larger, deeper or more damaged than a reader accepts."""


def mib(n: int) -> str:
    """A byte count for people: '1.5 MiB', '80.0 KiB'."""
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB" if n >= 2**10 else f"{n} bytes"


class NotAZip(Refused):
    """The file is not a whole zip archive; the reason says what it is instead (empty, an image, cut short)."""


def open_zip(path: str | os.PathLike, max_members: int = MAX_ZIP_MEMBERS) -> zipfile.ZipFile:
    """A zip file whose directory is small and names every member once (a second ``manifest.json``
    would otherwise silently win). Raises ``NotAZip``, ``Refused`` or ``zipfile.BadZipFile``."""
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # the end record only: its counts say how big the directory is
        if end is None:
            fh.seek(0)
            raise NotAZip(_what_instead(fh.read(16), os.fstat(fh.fileno()).st_size))
    entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_members or directory > MAX_ZIP_DIRECTORY:
        raise Refused(f"it has {entries} zip members ({mib(directory)} of directory); a bundle has a handful")
    zf = zipfile.ZipFile(path)
    try:
        _check_members(zf)
    except Refused:
        zf.close()
        raise
    return zf


def _what_instead(head: bytes, size: int) -> str:
    """What a file without a zip end record is, from its first bytes and size, as "is ..." for a message."""
    if size == 0:
        return "is empty (0 bytes)"
    for magic, offset, fmt in _SIGNATURES:
        if head[offset: offset + len(magic)] == magic:
            return f"is a {fmt} image, not a bundle"
    if head.startswith(b"PK\x03\x04"):  # a zip's first member, but its directory at the end is gone
        return f"is truncated at {size:,} bytes (its zip end record is missing): download or copy it again"
    return "is not a bundle (not a zip archive)"


def _check_members(zf: zipfile.ZipFile) -> None:
    """Each member named once, none encrypted, each compressed the way this project writes them
    (``zipfile`` would raise RuntimeError or NotImplementedError on reading such members)."""
    infos = zf.infolist()
    twice = [name for name, n in Counter(i.filename for i in infos).items() if n > 1]
    if twice:
        raise Refused(f"it holds {twice[0]} twice (a tampered or damaged file)")
    for info in infos:
        if info.flag_bits & 0x1:
            raise Refused(f"its {info.filename} is encrypted")
        if info.compress_type not in _READABLE:
            raise Refused(f"its {info.filename} is compressed in a way this program does not read "
                          f"(zip method {info.compress_type})")


def read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes, refused when its stated size exceeds ``limit``; read with the same cap."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise Refused(f"its {name} is missing (not a whole bundle)") from None
    if info.file_size > limit:
        raise Refused(f"its {name} inflates to {mib(info.file_size)}, over the {mib(limit)} it can need")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"its {name} holds more than the {mib(limit)} it can need")
    return data


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def loads_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` of bytes whose nesting is first checked (no ``RecursionError`` on hostile input)."""
    marks = np.frombuffer(_STRING.sub(b"", data), dtype=np.uint8)
    step = np.isin(marks, (ord("["), ord("{"))).astype(np.int32) - np.isin(marks, (ord("]"), ord("}")))
    if len(step) and int(np.cumsum(step).max()) > max_depth:
        raise Refused(f"its JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:  # the scan above is approximate on malformed strings
        raise Refused(f"its JSON nests deeper than {max_depth} levels") from None


def load_npy(data: bytes) -> np.ndarray:
    """An .npy array whose header agrees with its data length; object arrays (pickles) refused.

    ``np.load`` would allocate the shape its header claims before reading any data."""
    fh = io.BytesIO(data)
    try:  # numpy parses the header's dict literal with tokenize/ast: a mangled one raises their errors
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fh)
    except Exception as exc:
        raise ValueError(f"damaged .npy header ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise Refused("it stores Python objects where numbers belong (a pickle)")
    count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize != len(data) - fh.tell():
        raise ValueError("the array's size does not match its header")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=fh.tell())
    return array.reshape(shape, order="F" if fortran else "C")


def load_npz(data: bytes, what: str, *, max_arrays: int, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an .npz (itself a zip) named ``what`` in messages, at most ``max_arrays`` holding
    ``max_bytes`` in all."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > max_arrays:
            raise Refused(f"its {what} holds {len(infos)} arrays, more than {max_arrays}")
        _check_members(zf)
        total = sum(i.file_size for i in infos)
        if total > max_bytes + _NPY_HEADER * len(infos):
            raise Refused(f"the arrays in its {what} inflate to {mib(total)}, over the {mib(max_bytes)} they can need")
        return {i.filename.removesuffix(".npy"): load_npy(read_member(zf, i.filename, max_bytes + _NPY_HEADER))
                for i in infos}


def load_rgb_image(data: bytes, what: str, max_pixels: int) -> np.ndarray:
    """A PNG/JPEG/... as (H, W, 3) uint8, its size checked from the header before any pixel is decoded."""
    allowed = f"{max_pixels / 1e6:.1f} megapixels"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > max_pixels:
                raise Refused(f"its {what} is {img.width}×{img.height} pixels, over the {allowed} allowed")
            return np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError:  # PIL's own cap, far above ours, met before the size is checked
        raise Refused(f"its {what} is a decompression bomb (far over the {allowed} allowed)") from None
