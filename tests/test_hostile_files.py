"""Files from strangers (issue 13): a hostile corpus, generated here at small size by
``bench/bench_hostile.py`` (never committed as binaries), through the bundle loader, ``stops``,
``evaluate``, ``labels export``/``import``, the app's bundle upload and the facegen checkpoint reader.
Every file is refused in one line naming it, or opens; none takes more memory than a bounded amount."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_hostile as hostile  # noqa: E402
from pixelart.cli import main as pixelart_main  # noqa: E402
from pixelart.labels import LabelError, LabelStore, read_labels  # noqa: E402
from workbench.cli import run_handler  # noqa: E402
from workbench.errors import BundleError  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402

BUNDLES = [c for c in hostile.corpus() if c.kind == "bundle"]
LABELS = [c for c in hostile.corpus() if c.kind == "labels"]
REFUSED = [c.name for c in BUNDLES if c.expect == "refused"]
PEAK_LIMIT = 32 << 20  # the corpus's bombs inflate to 64 MiB and its huge count claims 2,000,000 steps


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return SimpleNamespace(folder=folder, paths=hostile.build(folder, hostile.SMALL))


def _cli(capsys, *argv) -> tuple[int, str, str]:
    status = pixelart_main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


# -- the loader and `stops` -------------------------------------------------------------------------
@pytest.mark.parametrize("case", BUNDLES, ids=lambda c: c.name)
def test_each_bundle_opens_or_is_refused_in_one_line_naming_it_with_memory_bounded(corpus, case):
    path = corpus.paths[case.name]
    tracemalloc.start()
    try:
        traj, message = Trajectory.load(path), None
    except BundleError as exc:
        traj, message = None, str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{case.name}: {peak / 2**20:.0f} MiB while opening"
    if case.expect == "accepted":
        assert message is None and len(traj) > 0
        traj.frame(len(traj) - 1)
    else:
        assert traj is None and case.name in message and "\n" not in message, message


@pytest.mark.parametrize("case", BUNDLES, ids=lambda c: c.name)
def test_stops_exits_2_with_one_line_or_prints_the_stops(corpus, case, capsys):
    status, out, err = _cli(capsys, "stops", corpus.paths[case.name])
    if case.expect == "accepted":
        assert status == 0 and f"{case.name}:" in out and err == ""
    else:
        assert status == 2 and out == ""
        assert err.startswith("error: ") and case.name in err and err.count("\n") == 1, err


def test_refusals_say_what_is_wrong(corpus):
    def why(name):
        with pytest.raises(BundleError) as info:
            Trajectory.load(corpus.paths[name])
        return str(info.value)

    assert "manifest.json inflates to 64.0 MiB" in why("manifest_bomb.bundle")
    assert "series.npz inflate to 64.0 MiB" in why("series_bomb.bundle")
    assert "2,000,000 steps" in why("huge_count.bundle")
    assert "decompression bomb" in why("input_png_bomb.bundle")
    assert "4200×4200" in why("input_png_large.bundle")
    assert "nests deeper" in why("deep_manifest.bundle")
    assert "series 'norm' is not one number per step" in why("series_2d.bundle")
    assert "Python objects" in why("series_objects.bundle")
    assert "points outside the frame data" in why("index_outside.bundle")
    assert "not a list of whole byte offsets" in why("index_floats.bundle")
    assert "not in order" in why("index_backwards.bundle")
    assert "larger than a frame can be" in why("frame_bomb.bundle")
    assert "not of its frame size 4096×4096" in why("frame_size_lie.bundle")
    assert "manifest.json twice" in why("two_manifests.bundle")


def test_a_good_bundle_still_opens_whole(corpus):
    traj = Trajectory.load(corpus.paths["good.bundle"])
    assert len(traj) == hostile.STEPS and traj.series_names == ["norm", "rate", "clip"]
    assert traj.planned_steps == hostile.STEPS
    assert Trajectory.load(corpus.paths["odd_planned_steps.bundle"]).planned_steps is None
    v1 = Trajectory.load(ROOT / "tests" / "data" / "v1_pixelart.bundle")
    assert np.array_equal(v1.frames(range(len(v1))), np.load(ROOT / "tests" / "data" / "v1_pixelart_frames.npy"))


# -- evaluate and labels ----------------------------------------------------------------------------
def test_evaluate_names_every_bundle_left_out_and_every_label_set_aside(corpus, capsys):
    labels = corpus.paths["labels_cannot_apply.jsonl"]
    status, out, err = _cli(capsys, "evaluate", corpus.folder, labels, "--strategies", "fixed_step=5")
    assert status == 0, err
    for name in REFUSED:
        assert f"note: bundle left out: {name}" in out, name
    assert "good_rgb.bundle: holds RGB frames" in out
    for why in ("range start -3 is before step 0", "range start 30 is after its end 10",
                "range 10..140 is outside the bundle's steps 0..39", "range 0..1e+300 is outside",
                "not in the bundle folder set aside: stranger.bundle"):
        assert why in out, why


def test_evaluate_with_no_usable_label_says_which_and_why(corpus, tmp_path, capsys):
    store = LabelStore(tmp_path / "bad.jsonl")
    store.path.write_text(json.dumps({"format": "pixelart-labels", "version": 1}) + "\n" + json.dumps(
        {"op": "add", "label_id": "abcdef0123", "bundle_id": "good", "bundle": "good.bundle", "annotator": "aki",
         "start": 30, "end": 10}) + "\n")
    status, out, err = _cli(capsys, "evaluate", corpus.folder, store.path, "--strategies", "fixed_step=5")
    assert status == 2 and err.count("\n") == 1
    assert "no labels match these bundles: label abcdef01 (aki on good.bundle, 30..10) set aside: range start 30" in err


def test_labels_export_copies_every_label_and_says_which_cannot_apply(corpus, tmp_path, capsys):
    labels = corpus.paths["labels_cannot_apply.jsonl"]
    status, out, err = _cli(capsys, "labels", labels, "export", tmp_path / "all.csv", "--bundles", corpus.folder)
    assert status == 0 and "wrote 7 label(s)" in out and "5 cannot apply" in out
    assert len(read_labels(tmp_path / "all.csv")) == 7
    for why in ("(aki on good.bundle, -3..4) cannot apply: range start -3 is before step 0",
                "(aki on good.bundle, 30..10) cannot apply: range start 30 is after its end 10",
                "10..140 is outside the bundle's steps 0..39", "not in the bundle folder cannot apply: stranger.bundle"):
        assert why in out, why
    # without the bundles at hand, what the labels alone show (the steps stored with each)
    status, out, err = _cli(capsys, "labels", labels, "export", tmp_path / "all.jsonl")
    assert status == 0 and "4 cannot apply" in out and "0..1e+300) cannot apply: range end 1e+300 is beyond any run" in out
    assert "2..3) cannot apply: range 2..3 is outside the bundle's steps 0..2" in out


@pytest.mark.parametrize("case", [c for c in LABELS if c.expect == "refused"], ids=lambda c: c.name)
def test_hostile_labels_files_are_refused_in_one_line(corpus, case, tmp_path, capsys):
    path = corpus.paths[case.name]
    tracemalloc.start()
    try:
        with pytest.raises(LabelError) as info:
            read_labels(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert case.name in str(info.value) and "\n" not in str(info.value) and peak < PEAK_LIMIT
    status, out, err = _cli(capsys, *hostile.command_for(case, path, tmp_path)[3:])
    assert status == 2 and err.startswith("error: ") and case.name in err and err.count("\n") == 1, err


# -- writing: modes and a full disk -----------------------------------------------------------------
def test_saved_files_are_readable_by_others_and_keep_the_mode_they_had(corpus, tmp_path):
    traj = Trajectory.load(corpus.paths["good.bundle"])
    umask = os.umask(0o022)
    os.umask(umask)
    path = traj.save(tmp_path / "shared.bundle")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    traj.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_full_disk_names_the_file_being_written(corpus, tmp_path, monkeypatch, capsys):
    traj = Trajectory.load(corpus.paths["good.bundle"])

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "results" / "run.bundle"
    assert run_handler(lambda args: traj.save(out) and 0, SimpleNamespace()) == 2
    err = capsys.readouterr().err
    assert err == f"error: no space left on the disk while writing {out}: free some space (or choose another --out) and run again\n"
    assert list(out.parent.iterdir()) == []  # no half-written file under any name
    store = LabelStore(tmp_path / "labels.jsonl")
    with pytest.raises(OSError) as info:
        store.add("run-1", "aki", 1, 2)
    assert info.value.filename == str(store.path)


# -- facegen checkpoints ----------------------------------------------------------------------------
def test_a_checkpoint_with_hostile_metadata_is_a_one_line_error(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from facegen.checkpoint import FORMAT, CheckpointError, read_checkpoint

    path = tmp_path / "councilgan_00000001.safetensors"
    save_file({"gen.0.w": torch.zeros(2)}, str(path),
              metadata={"format": FORMAT, "iteration": "1", "config": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(CheckpointError, match="unreadable metadata .*nests deeper") as info:
        read_checkpoint(path, prefixes=("gen.",))
    assert "\n" not in str(info.value)


# -- the app's bundle upload ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from app import launch
    from ui.session import SessionStore

    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(demo=demo, url=url, sessions=sessions)
    demo.close()
    sessions.close_all()


UPLOADED = ["manifest_bomb.bundle", "series_bomb.bundle", "frame_bomb.bundle", "huge_count.bundle",
            "input_png_bomb.bundle", "deep_manifest.bundle", "series_strings.bundle", "index_outside.bundle",
            "frame_size_lie.bundle", "two_manifests.bundle"]


def test_the_app_upload_shows_each_refusal_naming_the_file_and_keeps_the_bundle_before(
        app, corpus, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app.url, verbose=False, download_files=str(tmp_path))
    session = app.sessions.get(client.session_hash)

    def upload(name):
        outputs = client.predict(handle_file(str(corpus.paths[name])), api_name="/load_bundle")
        return [o for o in outputs if isinstance(o, str) and o.startswith("⚠️")]

    assert upload("good.bundle") == []
    copies = sorted(p for p in (session.folder / "bundles").rglob("*") if p.is_file())
    for name in UPLOADED:
        warnings = upload(name)
        assert len(warnings) == 1 and name in warnings[0], (name, warnings)
        assert "internal error" not in warnings[0] and "\n" not in warnings[0]
        # nothing half-loaded stays: only the good bundle's copy is kept
        assert sorted(p for p in (session.folder / "bundles").rglob("*") if p.is_file()) == copies, name
    art, *_ = client.predict(3, api_name="/scrub")  # the good bundle is still the one shown
    assert not isinstance(art, str) or not art.startswith("⚠️")
