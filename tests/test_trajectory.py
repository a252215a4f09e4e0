"""Trajectory bundles: round trip, random access, size budget, atomic writes, bad files."""

import os
import zipfile

import numpy as np
import pytest

from workbench.errors import BundleError
from workbench.trajectory import KEYFRAME_EVERY, Trajectory

PALETTE = np.random.default_rng(0).integers(0, 256, (16, 3), dtype=np.uint8)


def _random_walk(n, size=(64, 64), change=0.01, seed=0):
    """Frames where a fraction of pixels change each step (pessimistic: real SDS changes are local)."""
    rng = np.random.default_rng(seed)
    cur = rng.integers(0, 16, size, dtype=np.uint8)
    for _ in range(n):
        mask = rng.random(size) < change
        cur = np.where(mask, rng.integers(0, 16, size), cur).astype(np.uint8)
        yield cur


def _trajectory(n=100, **kw):
    traj = Trajectory(palette=PALETTE, input_image=np.full((256, 256, 3), 9, np.uint8), frame_size=(64, 64),
                      config={"run": {"seed": 1}, "prompt_used": "a test"})
    frames = []
    for i, f in enumerate(_random_walk(n, **kw)):
        traj.append(f, {"norm": 10.0 + i, "rate": i / 10.0})
        frames.append(f)
    return traj, frames


def test_round_trip_keeps_every_frame_series_palette_input_and_config(tmp_path):
    traj, frames = _trajectory(150)
    traj.set_metric("clip", 20, 0.75)
    traj.extras["parts"] = np.arange(12).reshape(3, 4)
    path = traj.save(tmp_path / "run.bundle")
    loaded = Trajectory.load(path)
    assert len(loaded) == 150 and loaded.frame_size == (64, 64)
    for i in (0, 1, KEYFRAME_EVERY - 1, KEYFRAME_EVERY, 77, 149, -1):
        assert np.array_equal(loaded.frame(i), frames[i])
    assert np.array_equal(loaded.palette, PALETTE)
    assert np.array_equal(loaded.input_image, traj.input_image)
    assert loaded.config["prompt_used"] == "a test"
    assert np.array_equal(loaded.series("norm"), 10.0 + np.arange(150))
    clip = loaded.series("clip")
    assert clip[20] == 0.75 and np.isnan(clip[19]) and len(clip) == 150
    assert np.array_equal(loaded.extras["parts"], np.arange(12).reshape(3, 4))
    assert np.array_equal(loaded.rgb(5), PALETTE[frames[5]])


def test_random_access_in_any_order_matches_sequential(tmp_path):
    traj, frames = _trajectory(200, change=0.05)
    loaded = Trajectory.load(traj.save(tmp_path / "r.bundle"))
    order = np.random.default_rng(3).permutation(200)
    for i in order[:60]:
        assert np.array_equal(loaded.frame(int(i)), frames[i])
        assert np.array_equal(traj.frame(int(i)), frames[i])


def test_ten_thousand_step_bundle_is_under_ten_megabytes(tmp_path):
    # 10,001 frames of 64x64 with 16 colours, 2% of pixels changing every step
    traj = Trajectory(palette=PALETTE, input_image=np.zeros((256, 256, 3), np.uint8), frame_size=(64, 64))
    last = None
    for i, f in enumerate(_random_walk(10_001, change=0.02)):
        traj.append(f, {"norm": float(i), "rate": 0.0, "clip": 0.5, "dino": 0.5})
        last = f
    path = traj.save(tmp_path / "big.bundle")
    assert os.path.getsize(path) < 10_000_000
    loaded = Trajectory.load(path)
    assert np.array_equal(loaded.frame(10_000), last)


def test_frames_are_stored_uncompressed_in_the_zip_for_seeking(tmp_path):
    traj, _ = _trajectory(10)
    path = traj.save(tmp_path / "z.bundle")
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("frames.bin").compress_type == zipfile.ZIP_STORED
        assert {"manifest.json", "input.png", "series.npz", "frames.idx.npy"} <= set(zf.namelist())


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    traj, frames = _trajectory(20)
    path = traj.save(tmp_path / "a.bundle")
    before = path.read_bytes()
    more, _ = _trajectory(40, seed=5)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("workbench.trajectory.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        more.save(path)
    assert path.read_bytes() == before  # the earlier bundle is intact
    assert [p.name for p in tmp_path.iterdir()] == ["a.bundle"]  # no temp files left
    assert np.array_equal(Trajectory.load(path).frame(19), frames[19])


@pytest.mark.parametrize(
    "content, message",
    [(b"", r"bad.bundle is empty \(0 bytes\)$"), (b"hello", r"bad.bundle is not a bundle \(not a zip archive\)$"),
     (b"\x89PNG\r\n\x1a\n" + bytes(50), "bad.bundle is a PNG image, not a bundle$"),
     (b"\xff\xd8\xff\xe0" + bytes(50), "bad.bundle is a JPEG image, not a bundle$"),
     (b"PK\x03\x04" + bytes(96), r"bad.bundle is truncated at 100 bytes \(its zip end record is missing\)"),
     (None, "does not exist")],
)
def test_bad_bundles_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.bundle"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BundleError, match=message):
        Trajectory.load(path)


def test_truncated_bundle_is_refused(tmp_path):
    traj, _ = _trajectory(50)
    path = traj.save(tmp_path / "t.bundle")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError):
        Trajectory.load(path)


def test_a_zip_that_is_not_a_bundle(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", '{"format": "something-else"}')
    with pytest.raises(BundleError, match="not a trajectory bundle"):
        Trajectory.load(path)


def test_loaded_bundles_are_read_only_and_frames_are_validated(tmp_path):
    traj, _ = _trajectory(3)
    with pytest.raises(ValueError):
        traj.append(np.zeros((8, 8), np.uint8))
    loaded = Trajectory.load(traj.save(tmp_path / "x.bundle"))
    with pytest.raises(BundleError, match="read-only"):
        loaded.append(np.zeros((64, 64), np.uint8))
    with pytest.raises(IndexError):
        loaded.frame(3)


def _rewrite_manifest(path, change):
    import json

    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps(change(manifest)).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)


@pytest.mark.parametrize(
    "change, message",
    [(lambda m: {k: v for k, v in m.items() if k != "palette"}, "no valid palette"),
     (lambda m: {k: v for k, v in m.items() if k != "num_frames"}, "no valid frame count"),
     (lambda m: {**m, "frame_size": [64]}, "no valid frame size"),
     (lambda m: [m], "not a trajectory bundle"),
     (lambda m: {**m, "version": 99}, "newer version")],
)
def test_damaged_manifests_are_refused_with_the_reason(tmp_path, change, message):
    traj, _ = _trajectory(5)
    path = traj.save(tmp_path / "m.bundle")
    _rewrite_manifest(path, change)
    with pytest.raises(BundleError, match=message):
        Trajectory.load(path)


def test_corrupt_frame_data_is_a_bundle_error_when_read(tmp_path):
    traj, _ = _trajectory(40)
    path = traj.save(tmp_path / "c.bundle")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("frames.bin")
    start = info.header_offset + 30 + len(info.filename) + 40  # inside the first frames' bytes
    data[start : start + 200] = b"\x00" * 200
    path.write_bytes(bytes(data))
    loaded = Trajectory.load(path)  # frames are read lazily: the damage shows on reading them
    with pytest.raises(BundleError, match="frame .* is damaged"):
        loaded.frame(0)


def test_open_bundles_hold_no_file_handles(tmp_path):
    traj, _ = _trajectory(5)
    paths = [traj.save(tmp_path / f"b{i}.bundle") for i in range(40)]
    fd_dir = __import__("pathlib").Path("/proc/self/fd")
    before = len(list(fd_dir.iterdir()))
    opened = [Trajectory.load(p) for p in paths]
    assert all(np.array_equal(t.frame(4), opened[0].frame(4)) for t in opened)
    assert len(list(fd_dir.iterdir())) <= before + 1


def test_reading_while_a_run_appends_loses_nothing(tmp_path):
    import threading

    traj = Trajectory(palette=PALETTE, input_image=np.zeros((8, 8, 3), np.uint8), frame_size=(16, 16))
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                n = len(traj)
                values = traj.series_map()
                if n:
                    assert np.isfinite(traj.series("norm")[:n]).all()
                    traj.frame(n - 1)
                assert all(len(v) == len(values["norm"]) for v in values.values()) if values else True
                traj.save(tmp_path / "live.bundle")
            except Exception as exc:  # noqa: BLE001 - the test reports any failure of the reader
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    frame = np.zeros((16, 16), np.uint8)
    for i in range(3000):
        frame[i % 16, (i // 16) % 16] = i % 16
        metrics = {"norm": float(i), "rate": i / 10}
        if i > 100:
            metrics["loss_sds"] = 1.0  # a series that appears mid-run, like the SDS losses
        traj.append(frame, metrics)
        if i % 10 == 9:
            for j in range(i - 9, i + 1):
                traj.set_metric("clip", j, 0.5)
    stop.set()
    thread.join()
    assert not errors, errors[:3]
    assert np.array_equal(traj.series("norm"), np.arange(3000.0))
    assert np.isfinite(traj.series("clip")).all()
    saved = Trajectory.load(tmp_path / "live.bundle")
    assert len(saved.series("norm")) == len(saved)


def test_scan_bundles_skips_damaged_empty_and_duplicate_runs(tmp_path):
    good, _ = _trajectory(5)
    good.config["run_id"] = "run-a"
    good.save(tmp_path / "a.bundle")
    good.save(tmp_path / "a_copy.bundle")
    (tmp_path / "broken.bundle").write_bytes(b"nope")
    damaged = bytearray((tmp_path / "a.bundle").read_bytes())
    with zipfile.ZipFile(tmp_path / "a.bundle") as zf:
        info = zf.getinfo("frames.bin")
    start = info.header_offset + 30 + len(info.filename)
    damaged[start : start + info.file_size] = b"\x00" * info.file_size
    (tmp_path / "zeroed.bundle").write_bytes(bytes(damaged))
    other, _ = _trajectory(3, seed=2)
    other.config["run_id"] = "run-b"
    other.save(tmp_path / "b.bundle")
    from workbench.trajectory import scan_bundles

    scan = scan_bundles(tmp_path)
    assert [t.run_id for t in scan.trajectories] == ["run-a", "run-b"]
    assert any(line.startswith("a_copy.bundle: the same run as a.bundle") for line in scan.skipped)
    assert any(line.startswith("broken.bundle") for line in scan.skipped)
    assert any(line.startswith("zeroed.bundle") and "damaged" in line for line in scan.skipped)
    with pytest.raises(BundleError, match="is not a folder"):
        scan_bundles(tmp_path / "a.bundle")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match="no .bundle files"):
        scan_bundles(empty)
