"""Files from strangers: peak memory and time of opening each file of a hostile corpus.
``python bench/bench_hostile.py`` (full size: 1 GiB bombs, 20,000,000 claimed steps; a few minutes).

The corpus (built here, never committed as binaries; ``tests/test_hostile_files.py`` builds it small)
holds zip bombs in every bundle member, self-consistent huge step counts, a decompression-bomb input
image, a deeply nested manifest, series of the wrong shape or type, frame indexes pointing outside
or backwards, a frame size the frames do not have, duplicate members, a lying zip directory, label
files that are huge, nested or hold ranges that cannot apply, and good bundles (v1 and v2, palette and
PNG frames) that must still open. Each file is opened by ``python -m pixelart stops`` (labels files by
``labels ... export``) under ``/usr/bin/time -v``; the table of exit status, peak RSS, wall time and the
one line printed goes to ``bench/results/hostile_files.txt``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.trajectory import Trajectory  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "hostile_files.txt"
V1_BUNDLE = ROOT / "tests" / "data" / "v1_pixelart.bundle"
PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [255, 255, 255]], np.uint8)
STEPS = 40
FULL = dict(big=1 << 30, steps=20_000_000)  # what the fault injection used
SMALL = dict(big=64 << 20, steps=2_000_000)  # over every limit, quick to build (the tests)
_CHUNK = 1 << 22


# -- good bundles ------------------------------------------------------------------------------------
def good_bundle(path: Path, *, rgb: bool = False, steps: int = STEPS, run_id: str | None = None) -> Path:
    """A small real trajectory: 8×8 palette frames (or 12×16 RGB ones) and a few metric series."""
    rng = np.random.default_rng(0)
    traj = Trajectory(palette=None if rgb else PALETTE, input_image=np.full((32, 32, 3), 60, np.uint8),
                      frame_size=(12, 16) if rgb else (8, 8),
                      config={"run_id": run_id or path.stem, "total_steps": steps, "run": {"steps": steps}})
    for i in range(steps):
        frame = rng.integers(0, 256 if rgb else 4, size=traj.codec.shape(traj.frame_size), dtype=np.uint8)
        traj.append(frame, {"norm": 10.0 - i / 10, "rate": 1.0 / (i + 1), "clip": 0.2 + i / 1000})
    return traj.save(path)


# -- rewriting a bundle's members --------------------------------------------------------------------
Member = bytes | Callable[[io.BufferedIOBase], None]  # bytes, or a writer streaming into the member


def rezip(src: Path, dst: Path, replace: dict[str, Member] | None = None, *, drop: tuple[str, ...] = (),
          add: tuple[tuple[str, Member], ...] = ()) -> Path:
    """``src``'s members with some replaced, dropped or added (frames.bin stays stored)."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        members = [(i.filename, replace.get(i.filename, zin.read(i.filename)), i.compress_type)
                   for i in zin.infolist() if i.filename not in drop]
        members += [(name, data, zipfile.ZIP_DEFLATED) for name, data in add]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": the point of one case
            for name, data, compress in members:
                info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
                info.compress_type = compress
                with zout.open(info, "w", force_zip64=True) as fh:
                    if callable(data):
                        data(fh)
                    else:
                        fh.write(data)
    return dst


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json"))


def with_manifest(src: Path, dst: Path, **changes) -> Path:
    """``src`` with manifest fields changed."""
    return rezip(src, dst, {"manifest.json": json.dumps({**manifest_of(src), **changes}).encode()})


def zeros(n: int, prefix: bytes = b"", fill: bytes = b"\0") -> Callable[[io.BufferedIOBase], None]:
    """A writer of ``prefix`` then ``n`` fill bytes, streamed (deflate squeezes 1 GiB into 1 MB)."""
    def write(fh: io.BufferedIOBase) -> None:
        fh.write(prefix)
        chunk = fill * _CHUNK
        for left in range(n, 0, -_CHUNK):
            fh.write(chunk[: min(left, _CHUNK)])
    return write


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            zf.writestr(f"{name}.npy", npy(array))
    return buf.getvalue()


def npz_bomb(n_bytes: int) -> bytes:
    """An .npz whose one float64 series inflates to ``n_bytes`` (its header says so, honestly)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n_bytes // 8,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("norm.npy", "w", force_zip64=True) as fh:
            zeros(n_bytes, header.getvalue())(fh)
    return buf.getvalue()


def npz_lying_header(count: int) -> bytes:
    """An .npz whose series' header claims ``count`` values over a few bytes (np.load allocates first)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (count,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("norm.npy", header.getvalue() + bytes(64))
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that states a huge size (a decompression bomb needs no more to be dangerous)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def frames_with(src: Path, dst: Path, blobs_at: dict[int, bytes]) -> Path:
    """``src`` with some frames' blobs replaced (index rewritten to match: a self-consistent file)."""
    traj = Trajectory.load(src)
    blobs = [blobs_at.get(i, b) for i, b in enumerate(traj._source.blobs(0, traj._source.count))]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    return rezip(src, dst, {"frames.bin": b"".join(blobs), "frames.idx.npy": npy(offsets)})


def huge_count(src: Path, dst: Path, steps: int) -> Path:
    """A self-consistent bundle of ``steps`` one-byte frames: manifest, index and steps all agree."""
    manifest = {**manifest_of(src), "num_frames": steps, "stored_frames": steps}
    return rezip(src, dst, {
        "manifest.json": json.dumps(manifest).encode(),
        "frames.idx.npy": npy(np.arange(steps + 1, dtype=np.int64)),
        "frames.steps.npy": npy(np.arange(steps, dtype=np.int64)),
        "frames.bin": zeros(steps, fill=b"x"),
        "series.npz": npz(norm=np.zeros(steps)),
    })


def lying_directory(src: Path, dst: Path, big: int) -> Path:
    """A manifest that inflates to ``big`` bytes while the zip directory says it holds 100."""
    rezip(src, dst, {"manifest.json": zeros(big, json.dumps(manifest_of(src)).encode(), b" ")})
    data = bytearray(dst.read_bytes())
    for sig in (b"PK\x01\x02",):  # central directory entries: uncompressed size at +24 (zip64: in extra)
        at = data.find(sig)
        name_len = struct.unpack("<H", data[at + 28: at + 30])[0]
        extra_at = at + 46 + name_len
        data[at + 24: at + 28] = struct.pack("<I", 0xFFFFFFFF)
        if data[extra_at: extra_at + 2] == b"\x01\x00":  # zip64 extra: first field is the size
            data[extra_at + 4: extra_at + 12] = struct.pack("<Q", 100)
    dst.write_bytes(bytes(data))
    return dst


def patch_directory(src: Path, dst: Path, member: str, *, flags: int = 0, method: int | None = None) -> Path:
    """``src`` with one member's central directory entry changed: flag bits or-ed in (1: encrypted),
    its compression method replaced (93: Zstandard, which this Python's zipfile cannot read)."""
    data = bytearray(src.read_bytes())
    at = struct.unpack("<I", data[data.rfind(b"PK\x05\x06") + 16:][:4])[0]  # the directory's offset
    while data[at: at + 4] == b"PK\x01\x02":
        name_len = struct.unpack("<H", data[at + 28: at + 30])[0]
        if data[at + 46: at + 46 + name_len] == member.encode():
            data[at + 8: at + 10] = struct.pack("<H", struct.unpack("<H", data[at + 8: at + 10])[0] | flags)
            if method is not None:
                data[at + 10: at + 12] = struct.pack("<H", method)
        extra_len, comment_len = struct.unpack("<HH", data[at + 30: at + 34])
        at += 46 + name_len + extra_len + comment_len
    return _write(dst, bytes(data))


def many_members(dst: Path, n: int) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for i in range(n):
            zf.writestr(f"m{i}", b"")
    return dst


# -- the corpus --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str  # the file name, which every refusal must name
    expect: str  # "refused" or "accepted"
    build: Callable[[Path, Path, dict], Path]  # (folder, a good bundle, sizes) -> the file
    kind: str = "bundle"  # or "labels"


def _bundle_cases() -> list[Case]:
    def good(folder, src, size): return src
    def rgb(folder, src, size): return good_bundle(folder / "good_rgb.bundle", rgb=True)
    def v1(folder, src, size): return _write(folder / "v1_pixelart.bundle", V1_BUNDLE.read_bytes())
    big, steps = "big", "steps"
    cases = [
        Case("good.bundle", "accepted", good),
        Case("good_rgb.bundle", "accepted", rgb),
        Case("v1_pixelart.bundle", "accepted", v1),
        Case("odd_planned_steps.bundle", "accepted", lambda f, s, z: with_manifest(
            s, f / "odd_planned_steps.bundle", config={**manifest_of(s)["config"], "total_steps": 1e308})),
        Case("manifest_bomb.bundle", "refused", lambda f, s, z: rezip(
            s, f / "manifest_bomb.bundle", {"manifest.json": zeros(z[big], json.dumps(manifest_of(s)).encode(), b" ")})),
        Case("series_bomb.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_bomb.bundle", {"series.npz": npz_bomb(z[big])})),
        Case("series_npz_bomb.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_npz_bomb.bundle", {"series.npz": zeros(z[big])})),
        Case("extras_bomb.bundle", "refused", lambda f, s, z: rezip(
            s, f / "extras_bomb.bundle", add=(("extras.npz", npz_bomb(z[big])),))),
        Case("frame_bomb.bundle", "refused", lambda f, s, z: frames_with(  # the last frame inflates to `big`
            s, f / "frame_bomb.bundle", {STEPS - 1: _zlib_bomb(z[big])})),
        Case("huge_count.bundle", "refused", lambda f, s, z: huge_count(s, f / "huge_count.bundle", z[steps])),
        Case("input_png_bomb.bundle", "refused", lambda f, s, z: rezip(
            s, f / "input_png_bomb.bundle", {"input.png": png_header_only(20000, 20000)})),
        Case("input_png_large.bundle", "refused", lambda f, s, z: rezip(
            s, f / "input_png_large.bundle", {"input.png": png_header_only(4200, 4200)})),
        Case("input_not_png.bundle", "refused", lambda f, s, z: rezip(
            s, f / "input_not_png.bundle", {"input.png": b"GIF89a not really"})),
        Case("deep_manifest.bundle", "refused", lambda f, s, z: rezip(
            s, f / "deep_manifest.bundle", {"manifest.json": b"[" * 200_000 + b"]" * 200_000})),
        Case("deep_config.bundle", "refused", lambda f, s, z: rezip(s, f / "deep_config.bundle", {
            "manifest.json": json.dumps({**manifest_of(s), "config": "@"}).encode().replace(
                b'"@"', b'{"a": ' * 100 + b"1" + b"}" * 100)})),
        Case("series_2d.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_2d.bundle", {"series.npz": npz(norm=np.zeros((STEPS, 3)))})),
        Case("series_strings.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_strings.bundle", {"series.npz": npz(norm=np.array(["x"] * STEPS))})),
        Case("series_objects.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_objects.bundle", {"series.npz": npz(norm=np.array([{}] * STEPS, dtype=object))})),
        Case("series_too_long.bundle", "refused", lambda f, s, z: rezip(
            s, f / "series_too_long.bundle", {"series.npz": npz(norm=np.zeros(STEPS + 5))})),
        Case("npy_header_lies.bundle", "refused", lambda f, s, z: rezip(
            s, f / "npy_header_lies.bundle", {"series.npz": npz_lying_header(10**13)})),
        Case("npy_header_mangled.bundle", "refused", lambda f, s, z: rezip(
            s, f / "npy_header_mangled.bundle", {"frames.idx.npy": npy(np.zeros(STEPS + 1, np.int64)).replace(
                f"({STEPS + 1},)".encode(), b"(((((")})),
        Case("index_outside.bundle", "refused", lambda f, s, z: _index(s, f / "index_outside.bundle", lambda o: o * 2)),
        Case("index_negative.bundle", "refused", lambda f, s, z: _index(s, f / "index_negative.bundle", lambda o: o - 10)),
        Case("index_backwards.bundle", "refused", lambda f, s, z: _index(s, f / "index_backwards.bundle", _swap)),
        Case("index_floats.bundle", "refused", lambda f, s, z: _index(s, f / "index_floats.bundle", lambda o: o.astype(float))),
        Case("index_2d.bundle", "refused", lambda f, s, z: _index(s, f / "index_2d.bundle", lambda o: np.stack([o, o]))),
        Case("steps_backwards.bundle", "refused", lambda f, s, z: rezip(
            s, f / "steps_backwards.bundle", {"frames.steps.npy": npy(np.arange(STEPS)[::-1].copy())})),
        Case("input_missing.bundle", "refused", lambda f, s, z: rezip(s, f / "input_missing.bundle", drop=("input.png",))),
        Case("steps_missing.bundle", "refused", lambda f, s, z: rezip(s, f / "steps_missing.bundle", drop=("frames.steps.npy",))),
        Case("frame_size_lie.bundle", "refused", lambda f, s, z: with_manifest(s, f / "frame_size_lie.bundle", frame_size=[4096, 4096])),
        Case("frame_size_lie_rgb.bundle", "refused", lambda f, s, z: with_manifest(
            good_bundle(f / "rgb_src.tmp", rgb=True), f / "frame_size_lie_rgb.bundle", frame_size=[2048, 2048])),
        Case("frame_size_huge.bundle", "refused", lambda f, s, z: with_manifest(s, f / "frame_size_huge.bundle", frame_size=[4096, 8192])),
        Case("count_is_float.bundle", "refused", lambda f, s, z: with_manifest(s, f / "count_is_float.bundle", num_frames=40.0)),
        Case("keyframe_zero.bundle", "refused", lambda f, s, z: with_manifest(s, f / "keyframe_zero.bundle", keyframe_every=0)),
        Case("record_every_text.bundle", "refused", lambda f, s, z: with_manifest(s, f / "record_every_text.bundle", record_every="x")),
        Case("palette_huge.bundle", "refused", lambda f, s, z: with_manifest(s, f / "palette_huge.bundle", palette=["ffffff"] * 100_000)),
        Case("curves_damaged.bundle", "refused", lambda f, s, z: with_manifest(s, f / "curves_damaged.bundle", curves=[{"x": 1}])),
        Case("two_manifests.bundle", "refused", lambda f, s, z: rezip(s, f / "two_manifests.bundle", add=(
            ("manifest.json", json.dumps({**manifest_of(s), "num_frames": 3}).encode()),))),
        Case("lying_directory.bundle", "refused", lambda f, s, z: lying_directory(s, f / "lying_directory.bundle", z[big])),
        Case("encrypted_member.bundle", "refused", lambda f, s, z: patch_directory(
            s, f / "encrypted_member.bundle", "manifest.json", flags=1)),
        Case("zstd_member.bundle", "refused", lambda f, s, z: patch_directory(
            s, f / "zstd_member.bundle", "series.npz", method=93)),
        Case("many_members.bundle", "refused", lambda f, s, z: many_members(f / "many_members.bundle", 100_000 if z[big] > 1 << 28 else 200)),
        Case("truncated.bundle", "refused", lambda f, s, z: _write(f / "truncated.bundle", s.read_bytes()[: s.stat().st_size // 2])),
        Case("not_a_zip.bundle", "refused", lambda f, s, z: _write(f / "not_a_zip.bundle", bytes(range(256)) * 64)),
        Case("empty.bundle", "refused", lambda f, s, z: _write(f / "empty.bundle", b"")),
    ]
    return cases


def _zlib_bomb(n: int) -> bytes:
    comp, chunk, out = zlib.compressobj(9), b"\0" * _CHUNK, []
    for left in range(n, 0, -_CHUNK):
        out.append(comp.compress(chunk[: min(left, _CHUNK)]))
    return b"".join(out) + comp.flush()


def _index(src: Path, dst: Path, change: Callable[[np.ndarray], np.ndarray]) -> Path:
    with zipfile.ZipFile(src) as zf:
        offsets = np.load(io.BytesIO(zf.read("frames.idx.npy")))
    return rezip(src, dst, {"frames.idx.npy": npy(change(offsets))})


def _swap(offsets: np.ndarray) -> np.ndarray:
    out = offsets.copy()
    out[5], out[6] = offsets[6], offsets[5]
    return out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _labels_cases() -> list[Case]:
    def lines(*records: dict) -> bytes:
        return b"".join(json.dumps(r).encode() + b"\n" for r in ({"format": "pixelart-labels", "version": 1}, *records))

    def label(start, end, bundle_id="good", **kw):
        return {"op": "add", "label_id": f"{bundle_id}-{start}-{end}", "bundle_id": bundle_id,
                "bundle": f"{bundle_id}.bundle", "annotator": "aki", "start": start, "end": end, **kw}

    def huge(f, s, z):  # a sparse file: its size, not its bytes, is what a reader must refuse
        path = f / "huge_labels.jsonl"
        with open(path, "wb") as fh:
            fh.truncate(2 * z["big"])
        return path

    return [
        Case("labels_cannot_apply.jsonl", "accepted", lambda f, s, z: _write(f / "labels_cannot_apply.jsonl", lines(
            label(5, 20), label(30, 10), label(-3, 4), label(10, STEPS + 100), label(1, 2, "stranger"),
            label(0, 1e300), label(2, 3, steps=3))), "labels"),
        Case("huge_labels.jsonl", "refused", huge, "labels"),
        Case("deep_labels.jsonl", "refused", lambda f, s, z: _write(
            f / "deep_labels.jsonl", lines(label(1, 2)) + b"[" * 200_000 + b"]" * 200_000 + b"\n" + lines(label(3, 4))), "labels"),
        Case("long_line_labels.jsonl", "refused", lambda f, s, z: _write(
            f / "long_line_labels.jsonl", lines(label(1, 2, note="n" * (2 << 20)), label(3, 4))), "labels"),
        Case("infinite_labels.csv", "refused", lambda f, s, z: _write(
            f / "infinite_labels.csv", b"bundle_id,annotator,start,end\ngood,aki,1,inf\n"), "labels"),
    ]


def corpus() -> list[Case]:
    """Every case, bundles then labels files."""
    return _bundle_cases() + _labels_cases()


def build(folder: Path, sizes: dict) -> dict[str, Path]:
    """Write the corpus into ``folder`` (bundles) and ``folder/labels`` (labels files); name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    src = good_bundle(folder / "good.bundle", run_id="good")
    out = {}
    for case in corpus():
        where = folder / "labels" if case.kind == "labels" else folder
        out[case.name] = case.build(where, src, sizes)
    for tmp in folder.glob("*.tmp"):
        tmp.unlink()
    return out


# -- measuring ---------------------------------------------------------------------------------------
def command_for(case: Case, path: Path, folder: Path) -> list[str]:
    if case.kind == "labels" and path.suffix == ".csv":  # a CSV is imported into a labels file
        return [sys.executable, "-m", "pixelart", "labels", str(folder / "imported.jsonl"), "import", str(path)]
    if case.kind == "labels":
        return [sys.executable, "-m", "pixelart", "labels", str(path), "export", str(folder / "out.jsonl"),
                "--bundles", str(folder)]
    return [sys.executable, "-m", "pixelart", "stops", str(path)]


def measure(cmd: list[str]) -> dict:
    """Exit status, peak RSS (MiB), wall seconds, whether a traceback showed, and the last stderr line."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=ROOT)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(clock.split(":"))))
    own = [line for line in proc.stderr.split("\tCommand being timed")[0].strip().splitlines()
           if not line.startswith("Command exited with non-zero status")]
    last = (own[-1] if own else proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")
    return dict(status=proc.returncode, rss=rss, seconds=seconds, traceback="Traceback" in proc.stderr, line=last)


def main(argv: list[str] | None = None) -> int:
    from bench.common import describe_machine, machine_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the tests' sizes (64 MiB bombs, 2,000,000 steps)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        started = time.perf_counter()
        paths = build(folder, sizes)
        built = time.perf_counter() - started
        rows = []
        for case in corpus():
            path = paths[case.name]
            row = measure(command_for(case, path, folder))
            row.update(name=case.name, expect=case.expect, size=path.stat().st_size)
            rows.append(row)
            print(f"{case.name:<28} exit {row['status']}  {row['rss']:7.1f} MiB  {row['seconds']:6.2f} s  {row['line'][:110]}")
        baseline = measure([sys.executable, "-c", "import pixelart.cli, workbench.trajectory"])
        scan = measure([sys.executable, "-m", "pixelart", "evaluate", str(folder),
                        str(folder / "labels" / "labels_cannot_apply.jsonl"), "--strategies", "fixed_step=5"])
    worst = max(rows, key=lambda r: r["rss"])
    worst_bundle = max((r for r in rows if r["name"].endswith(".bundle")), key=lambda r: r["rss"])
    slowest = max(rows, key=lambda r: r["seconds"])
    wrong = [r["name"] for r in rows if r["traceback"] or (r["status"] == 0) != (r["expect"] == "accepted")]
    lines = [
        f"# Hostile files: python bench/bench_hostile.py{' --small' if args.small else ''} ({time.strftime('%Y-%m-%d')})",
        f"# Machine: {describe_machine(machine_info())}",
        f"# Sizes: bombs inflate to {sizes['big'] / 2**30:.3g} GiB, the huge count claims {sizes['steps']:,} steps; "
        f"corpus built in {built:.0f} s",
        "# Each file opened by `python -m pixelart stops FILE` (labels files: `labels FILE export OUT --bundles DIR`, "
        "which opens the whole corpus folder too; a CSV: `labels NEW.jsonl import FILE`) under /usr/bin/time -v",
        f"# Baseline (python importing pixelart.cli + workbench.trajectory, nothing opened): "
        f"{baseline['rss']:.1f} MiB, {baseline['seconds']:.2f} s",
        f"# Worst peak memory: {worst['name']} {worst['rss']:.1f} MiB in {worst['seconds']:.2f} s; "
        f"slowest: {slowest['name']} {slowest['seconds']:.2f} s ({slowest['rss']:.1f} MiB); "
        f"worst bundle: {worst_bundle['name']} {worst_bundle['rss']:.1f} MiB in {worst_bundle['seconds']:.2f} s",
        f"# evaluate over the whole corpus folder: exit {scan['status']}, {scan['rss']:.1f} MiB, {scan['seconds']:.2f} s, "
        f"traceback: {'yes' if scan['traceback'] else 'no'}",
        f"# Tracebacks: {sum(r['traceback'] for r in rows)}; files not refused/accepted as expected: {wrong or 'none'}",
        "",
        f"{'file':<28}{'expect':>9}{'exit':>5}{'file MiB':>10}{'peak MiB':>10}{'seconds':>9}  what it printed",
    ]
    for r in rows:
        lines.append(f"{r['name']:<28}{r['expect']:>9}{r['status']:>5}{r['size'] / 2**20:>10.2f}{r['rss']:>10.1f}"
                     f"{r['seconds']:>9.2f}  {r['line']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:8]))
    print(f"wrote {args.out}")
    return 1 if wrong or scan["traceback"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
