"""The trajectory with RGB frames, sparse frame recording and bundle format compatibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.errors import BundleError
from workbench.records import Curve, RunStart
from workbench.trajectory import Trajectory

DATA = Path(__file__).parent / "data"
CURVES = (Curve("loss", "total loss", log=True), Curve("norm", "L2 to the input", panel=1))


def _rgb_start(record_every: int = 1) -> RunStart:
    rng = np.random.default_rng(1)
    return RunStart(kind="nst", total=20, input_image=rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
                    frame_size=(24, 32), curves=CURVES, config={"run_id": "rgb-run", "total_steps": 20},
                    record_every=record_every, frame_label="Stylised image")


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(n)]


def test_rgb_frames_round_trip_through_a_bundle_losslessly(tmp_path):
    traj = Trajectory.from_start(_rgb_start())
    frames = _frames(12)
    for i, frame in enumerate(frames):
        traj.append(frame, {"loss": 100.0 / (i + 1), "norm": float(i)})
    assert traj.palette is None and traj.frame(5).shape == (24, 32, 3)
    path = traj.save(tmp_path / "run.bundle")
    back = Trajectory.load(path)
    assert len(back) == 12 and back.kind == "nst" and back.frame_label == "Stylised image"
    assert [c.name for c in back.curves] == ["loss", "norm"] and back.curves[0].log
    for i in (11, 0, 7, 3):  # any order: every frame decodes on its own
        np.testing.assert_array_equal(back.frame(i), frames[i])
        np.testing.assert_array_equal(back.rgb(i), frames[i])
    np.testing.assert_allclose(back.series("loss"), [100.0 / (i + 1) for i in range(12)])
    assert back.planned_steps == 20


def test_frames_every_k_steps_snap_to_the_newest_recorded_step(tmp_path):
    traj = Trajectory.from_start(_rgb_start(record_every=5))
    frames = _frames(12)
    for i in range(12):
        traj.append(frames[i] if i % 5 == 0 or i == 11 else None, {"loss": float(i)})
    assert traj.frame_steps == [0, 5, 10, 11]
    assert traj.recorded_step(7) == 5 and traj.recorded_step(4) == 0 and traj.recorded_step(11) == 11
    np.testing.assert_array_equal(traj.frame(9), frames[5])
    back = Trajectory.load(traj.save(tmp_path / "sparse.bundle"))
    assert len(back) == 12 and back.frame_steps == [0, 5, 10, 11] and back.record_every == 5
    np.testing.assert_array_equal(back.frame(10), frames[10])
    np.testing.assert_array_equal(back.series("loss"), np.arange(12.0))  # metrics at every step


def test_the_first_step_needs_a_frame_and_shapes_are_checked():
    traj = Trajectory.from_start(_rgb_start())
    with pytest.raises(ValueError, match="step 0"):
        traj.append(None, {"loss": 1.0})
    with pytest.raises(ValueError, match="frame shape"):
        traj.append(np.zeros((24, 32), np.uint8))


def test_a_version_1_pixel_art_bundle_opens_unchanged():
    """tests/data/v1_pixelart.bundle was written by the version-1 writer (commit 77b6e95)."""
    traj = Trajectory.load(DATA / "v1_pixelart.bundle")
    expected = np.load(DATA / "v1_pixelart_frames.npy")
    assert len(traj) == 41 and traj.kind == "pixelart" and traj.palette is not None
    assert traj.frame_steps == list(range(41)) and traj.run_id == "v1-fixture"
    for i in (40, 0, 33, 31, 32):
        np.testing.assert_array_equal(traj.frame(i), expected[i])
    np.testing.assert_array_equal(traj.series("norm"), np.arange(41.0))
    assert [c.name for c in traj.curves] == ["norm", "rate"] and traj.planned_steps == 40


def test_damaged_frame_steps_are_refused(tmp_path):
    import zipfile

    traj = Trajectory.from_start(_rgb_start())
    for frame in _frames(3):
        traj.append(frame, {"loss": 1.0})
    path = traj.save(tmp_path / "a.bundle")
    damaged = tmp_path / "b.bundle"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "frames.steps.npy":
                import io
                buf = io.BytesIO()
                np.save(buf, np.array([0, 2, 1]))
                data = buf.getvalue()
            dst.writestr(info, data)
    with pytest.raises(BundleError, match="steps of its frames"):
        Trajectory.load(damaged)


def test_a_save_after_an_append_cut_short_keeps_only_complete_steps(tmp_path):
    """Ctrl-C may land inside ``append`` after the frame was stored but before the step counted."""
    traj = Trajectory.from_start(_rgb_start())
    frames = _frames(3)
    traj.append(frames[0], {"loss": 1.0})
    traj.append(frames[1], {"loss": 2.0})
    traj._blobs.append(traj.codec.encode(2, frames[2], frames[1]))  # what the cut-short append left
    traj._frame_steps.append(2)
    back = Trajectory.load(traj.save(tmp_path / "cut.bundle"))
    assert len(back) == 2 and back.frame_steps == [0, 1]
    np.testing.assert_array_equal(back.frame(1), frames[1])
