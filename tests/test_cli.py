"""The command line end to end on the tiny back end."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pixelart.cli import main, parse_size
from workbench.palette import read_hex
from pixelart.stopping import STRATEGIES
from workbench.trajectory import Trajectory


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "look.jpg"
    img = np.full((300, 200, 3), 235, np.uint8)
    img[60:200, 50:150] = (40, 90, 160)
    img[200:290, 70:130] = (20, 20, 30)
    Image.fromarray(img).save(path, quality=95)
    return path


def test_run_writes_bundle_pngs_and_palette(photo_path, tmp_path, capsys):
    out = tmp_path / "runs" / "look.bundle"
    code = main(["run", str(photo_path), "--out", str(out), "--model", "tiny", "--steps", "30",
                 "--size", "32", "--colors", "8", "--semantic-every", "5", "--prompt", "a blue jacket", "--quiet"])
    assert code == 0
    traj = Trajectory.load(out)
    assert len(traj) == 31 and traj.config["prompt_used"] == "a blue jacket"
    assert np.isfinite(traj.series("dino")).all()
    native = np.asarray(Image.open(tmp_path / "runs" / "look.png"))
    big = np.asarray(Image.open(tmp_path / "runs" / "look_x16.png"))
    assert native.shape == (32, 32, 3) and big.shape == (512, 512, 3)
    assert np.array_equal(big[::16, ::16], native)  # crisp nearest-neighbour upscale
    palette = read_hex(tmp_path / "runs" / "look.hex")
    assert set(map(tuple, native.reshape(-1, 3).tolist())) <= set(map(tuple, palette.tolist()))
    assert np.array_equal(native, traj.rgb(30))
    printed = capsys.readouterr().out
    assert "recorded 31 steps" in printed and "not meaningful" in printed


def test_run_stops_on_a_strategy_and_the_png_is_that_step(photo_path, tmp_path, capsys):
    out = tmp_path / "s.bundle"
    code = main(["run", str(photo_path), "--out", str(out), "--model", "tiny-sd", "--steps", "40",
                 "--size", "16", "--prompt", "x", "--encoders", "none", "--stop-on", "fixed_step=7", "--quiet"])
    assert code == 0
    traj = Trajectory.load(out)
    assert len(traj) == 8 and traj.config["stop"]["step"] == 7
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), traj.rgb(7))
    assert "fixed_step stopped at step 7" in capsys.readouterr().out


def test_stops_prints_every_strategy(photo_path, tmp_path, capsys):
    out = tmp_path / "t.bundle"
    main(["run", str(photo_path), "--out", str(out), "--model", "tiny-sd", "--steps", "12", "--size", "16",
          "--prompt", "x", "--semantic-every", "3", "--quiet"])
    capsys.readouterr()
    assert main(["stops", str(out), "--json"]) == 0
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(STRATEGIES) >= {"fixed_step", "norm_threshold", "norm_rate", "clip_max", "dino_max"}
    traj = Trajectory.load(out)
    assert rows["clip_max"]["step"] == int(np.nanargmax(traj.series("clip")))
    assert main(["stops", str(out), "--strategy", "fixed_step=5"]) == 0
    table = capsys.readouterr().out
    assert "fixed_step" in table and "reached step 5" in table


def test_baseline_writes_every_method(photo_path, tmp_path, capsys):
    assert main(["baseline", str(photo_path), "--size", "24x32", "--colors", "5", "--out", str(tmp_path)]) == 0
    for method in ("nearest", "bilinear", "bicubic", "area", "lanczos"):
        img = np.asarray(Image.open(tmp_path / f"look_{method}.png"))
        assert img.shape == (32, 24, 3)
        assert len(np.unique(img.reshape(-1, 3), axis=0)) <= 5
    assert len(read_hex(tmp_path / "look.hex")) == 5


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    code = main(["run", str(bad), "--out", str(tmp_path / "x.bundle"), "--model", "tiny", "--steps", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert main(["stops", str(tmp_path / "missing.bundle")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_size_parsing():
    assert parse_size("64") == (64, 64) and parse_size("48x64") == (64, 48)


def test_every_command_has_help_in_a_real_process():
    for cmd in ([], ["run"], ["baseline"], ["stops"], ["models"], ["download"]):
        res = subprocess.run([sys.executable, "-m", "pixelart", *cmd, "--help"], capture_output=True, text=True)
        assert res.returncode == 0 and "usage:" in res.stdout, cmd
    res = subprocess.run([sys.executable, "-m", "pixelart", "run", "x.jpg"], capture_output=True, text=True)
    assert res.returncode == 2 and "--out" in res.stderr


def test_download_builds_tiny_models_and_explains_what_is_missing_offline(capsys, empty_hf_cache):
    assert main(["download", "tiny", "--with-encoders"]) == 0
    assert "all weights are in the local cache" in capsys.readouterr().out
    assert main(["download", "sd15"]) == 2  # no network here: a one-line explanation, not a traceback
    err = capsys.readouterr().err
    assert "stable-diffusion-v1-5" in err and "hf download" in err
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny" in listing and "missing" in listing


def test_ctrl_c_saves_the_steps_made_so_far(photo_path, tmp_path):
    import signal
    import time

    out = tmp_path / "stopped.bundle"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelart", "run", str(photo_path), "--out", str(out), "--model", "tiny-sd",
         "--steps", "100000", "--size", "16", "--prompt", "x", "--encoders", "none", "--save-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    started = time.monotonic()
    while "step/s" not in (line := proc.stdout.readline()) and time.monotonic() - started < 120:
        assert line or proc.poll() is None, "the run ended before any step"
    time.sleep(1.0)  # let it make a few steps
    proc.send_signal(signal.SIGINT)
    printed = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130 and "interrupted: saving the steps made so far" in printed
    traj = Trajectory.load(out)
    assert len(traj) > 1 and traj.config["interrupted"] is True
    assert np.array_equal(np.asarray(Image.open(tmp_path / "stopped.png")), traj.rgb(len(traj) - 1))


def test_parsing_and_help_do_not_import_torch():
    code = "import sys, pixelart.cli as c; c.build_parser(); print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr


def test_run_accepts_a_local_pipeline_folder_as_model(photo_path, tmp_path, capsys):
    from pixelart.models.tiny import materialize_tiny

    folder = materialize_tiny("pixelart-tiny/sd")  # a StableDiffusionPipeline saved with save_pretrained
    out = tmp_path / "local.bundle"
    code = main(["run", str(photo_path), "--out", str(out), "--model", str(folder), "--steps", "3", "--size", "16",
                 "--prompt", "a jacket", "--encoders", "none", "--parts", "off", "--quiet"])
    assert code == 0, capsys.readouterr().err
    traj = Trajectory.load(out)
    assert len(traj) == 4 and traj.config["model_id"] == str(folder) and traj.config["model_family"] == "sd"
    assert main(["run", str(photo_path), "--out", str(out), "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_output_paths_are_checked_before_any_work(photo_path, tmp_path, capsys):
    import time

    folder = tmp_path / "existing.bundle"
    folder.mkdir()
    a_file = tmp_path / "somefile"
    a_file.write_text("not a folder")
    started = time.monotonic()
    cases = [
        (["run", str(photo_path), "--out", str(folder), "--model", "tiny", "--steps", "2"], "is a folder"),
        (["run", str(photo_path), "--out", str(a_file / "x.bundle"), "--model", "tiny"], "cannot be created"),
        (["evaluate", str(tmp_path), str(tmp_path / "labels.jsonl"), "--out", str(a_file)], "is a file"),
        (["baseline", str(photo_path), "--out", str(a_file)], "is a file"),
        (["baseline", str(photo_path), "--out", str(a_file / "sub")], "cannot be created"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, (argv, err)
    assert time.monotonic() - started < 10  # no model was loaded, no step was run
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob("*.png"))


def test_os_errors_are_one_line_without_traceback(tmp_path, capsys):
    from pixelart.labels import LabelStore

    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("run-1", "aki", 1, 2)
    target = tmp_path / "export.csv"
    target.mkdir()  # the system refuses to put a file there
    assert main(["labels", str(store.path), "export", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(target) in err and "Traceback" not in err


def test_a_stop_strategy_the_run_cannot_feed_is_refused(photo_path, tmp_path, capsys):
    out = tmp_path / "r.bundle"
    assert main(["run", str(photo_path), "--out", str(out), "--model", "tiny-sd", "--encoders", "none",
                 "--stop-on", "clip_max"]) == 2
    assert "needs the clip similarity" in capsys.readouterr().err and not out.exists()


def test_a_stopped_run_saves_its_pending_similarities(photo_path, tmp_path, capsys):
    out = tmp_path / "s.bundle"
    code = main(["run", str(photo_path), "--out", str(out), "--model", "tiny-sd", "--steps", "40", "--size", "16",
                 "--prompt", "x", "--encoders", "clip", "--semantic-every", "5", "--parts", "off",
                 "--stop-on", "fixed_step=7", "--quiet"])
    assert code == 0, capsys.readouterr().err
    traj = Trajectory.load(out)
    # steps 5..7 waited for the next batch of 5 when the run stopped: the run was closed before saving
    assert len(traj) == 8 and np.isfinite(traj.series("clip")).all()
