"""``python -m stylize``: the nst command end to end on the tiny VGG, its one-line errors, and the
command registry that other stylize back ends extend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylize import cli
from stylize.nst import loading



@pytest.fixture()
def images(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    yy, xx = np.indices((40, 56))
    content = np.stack([xx * 4, yy * 6, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(content).save(tmp_path / "content.png")
    stripes = (((xx // 3) % 2) * 200 + rng.integers(0, 40, xx.shape)).astype(np.uint8)
    Image.fromarray(np.stack([stripes, stripes // 3, 255 - stripes], -1)).save(tmp_path / "style1.png")
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "style2.jpg")
    return tmp_path / "content.png", tmp_path / "style1.png", tmp_path / "style2.jpg"


def test_nst_command_writes_the_image_and_a_bundle(images, tmp_path, capsys):
    from workbench.trajectory import Trajectory

    content, s1, s2 = images
    out, bundle = tmp_path / "out" / "result.png", tmp_path / "run.bundle"
    status = cli.main(["nst", str(content), str(s1), str(s2), "--style-blend", "0.6,0.4", "--out", str(out),
                       "--bundle", str(bundle), "--model", "tiny", "--iterations", "6", "--max-side", "48",
                       "--scales", "2", "--tv-weight", "1", "--quiet"])
    assert status == 0 and "after 6 iteration(s)" in capsys.readouterr().out
    traj = Trajectory.load(bundle)
    assert len(traj) == 7 and traj.kind == "nst" and traj.frame_size == (34, 48)
    assert {"loss", "content", "style", "tv", "norm", "rate"} <= set(traj.series_names)
    assert traj.config["style_names"] == ["style1.png", "style2.jpg"] and traj.config["style_blend"] == [0.6, 0.4]
    assert np.array_equal(np.asarray(Image.open(out)), traj.rgb(6))
    assert np.isfinite(traj.series("loss")).all()


@pytest.mark.parametrize("extra, message", [
    (["--style-layers", "conv1_1,conv9_9"], "does not exist in VGG19"),
    (["--style-blend", "1,2"], "style_blend has 2 values for 1 style images"),
    (["--iterations", "0"], "iterations must be between"),
    (["--model", "not a model"], "is not one of"),
])
def test_nst_command_refuses_bad_options_before_loading(images, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    content, s1, _ = images
    assert cli.main(["nst", str(content), str(s1), "--out", str(tmp_path / "o.png"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_nst_command_refuses_a_bad_out_and_a_bad_image(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    content, s1, _ = images
    assert cli.main(["nst", str(content), str(s1), "--out", str(tmp_path / "o.txt"), "--model", "tiny"]) == 2
    assert "must end in .png" in capsys.readouterr().err
    missing = tmp_path / "nope.png"
    assert cli.main(["nst", str(missing), str(s1), "--out", str(tmp_path / "o.png"), "--model", "tiny"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_command_modules_hook_adds_commands(monkeypatch, capsys, tmp_path):
    assert "stylize.sms.cli" in cli.COMMANDS.modules
    (tmp_path / "stylize_fake_cmds.py").write_text(
        "from stylize.cli import command\n"
        "def add(p):\n    p.add_argument('--x', type=int, default=1)\n"
        "@command('fake-cmd', 'a command from another module', add)\n"
        "def handler(args):\n    print(f'fake {args.x}')\n    return 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli.COMMANDS, "modules", cli.COMMANDS.modules + ("stylize_fake_cmds", "stylize.no_such_module"))
    try:
        assert cli.main(["fake-cmd", "--x", "3"]) == 0
        assert capsys.readouterr().out == "fake 3\n"
    finally:
        cli.COMMANDS.commands.pop("fake-cmd", None)
        sys.modules.pop("stylize_fake_cmds", None)


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "stylize", "--help"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert out.returncode == 0
    for name in ("nst", "index", "clusters", "retrieve", "download", "models"):
        assert name in out.stdout


def test_stop_on_stops_the_transfer_where_the_rule_fires(tmp_path, capsys):
    from workbench.trajectory import Trajectory

    content, style = tmp_path / "c.png", tmp_path / "s.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(style)
    out, bundle = tmp_path / "o.png", tmp_path / "o.bundle"
    code = cli.main(["nst", str(content), str(style), "--model", "tiny", "--iterations", "40", "--max-side", "48",
                     "--stop-on", "fixed_step=4", "--out", str(out), "--bundle", str(bundle), "--quiet"])
    assert code == 0 and "fixed_step stopped at step 4" in capsys.readouterr().out
    traj = Trajectory.load(bundle)
    assert len(traj) == 5 and traj.config["stop"]["step"] == 4
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), traj.rgb(4))
    with pytest.raises(SystemExit) as refused:  # a rule this back end does not record is refused by argparse
        cli.main(["nst", str(content), str(style), "--stop-on", "clip_max", "--out", str(out)])
    assert refused.value.code == 2 and "unknown stopping strategy 'clip_max'" in capsys.readouterr().err
