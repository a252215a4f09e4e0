"""facegen training run, checkpoints, resume, translation and CLI on a tiny config and synthetic images."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facegen import checkpoint as ck
from facegen.cli import main as cli_main
from facegen.config import FaceGenConfig, load_config, proposed_config, baseline_config, tiny_config
from facegen.inference import translate, translate_face
from facegen.run import TrainRun
from facegen.trainer import CouncilTrainer
from workbench.errors import ConfigError, UserError
from workbench.records import RunStart, StepRecord
from facegen_support import one_thread, write_images  # noqa: F401  (one_thread: an autouse fixture)




@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    return (write_images(tmp_path / "faces", 5, 0, (40, 36)),
            write_images(tmp_path / "bodies", 4, 1, (32, 48)))


def _config(**train) -> FaceGenConfig:
    return tiny_config().replace(train=train) if train else tiny_config()


def _collect(run, stop_after: int | None = None) -> tuple[RunStart, list[StepRecord]]:
    it = iter(run)
    start = next(it)
    steps = []
    for rec in it:
        steps.append(rec)
        if stop_after is not None and rec.step >= stop_after:
            it.close()
            break
    return start, steps


def _same_metrics(a: list[StepRecord], b: list[StepRecord]) -> bool:
    """Equal step by step, NaN equal to NaN (metrics not computed on that step)."""
    def norm(m: dict) -> dict:
        return {k: ("nan" if math.isnan(v) else v) for k, v in m.items()}

    return [norm(s.metrics) for s in a] == [norm(s.metrics) for s in b]


def test_run_records_and_checkpoints(data, tmp_path) -> None:
    faces, bodies = data
    run = TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run")
    before = [p.detach().clone() for p in run.trainer.gens[0].parameters()]
    start, steps = _collect(run)
    assert start.kind == "councilgan" and start.total == 4 and start.record_every == 2
    names = {c.name for c in start.curves}
    assert {"dis", "gen_adv", "council_gen", "gen_total", "fid", "dis_0", "council_dis_1", "focus_size_1"} <= names
    assert [s.step for s in steps] == [0, 1, 2, 3, 4]
    assert [s.frame is not None for s in steps] == [True, False, True, False, True]
    # grid: 2 faces × (input + 2 members + 2 masks) tiles of 32 px
    assert steps[0].frame.shape == (64, 160, 3) and steps[0].frame.dtype == np.uint8
    for s in steps[1:]:
        for key in ("dis", "gen_adv", "gen_total", "dis_0", "dis_1", "gen_total_1"):
            assert math.isfinite(s.metrics[key]), (s.step, key)
        assert math.isnan(s.metrics["fid"])
    # council from iteration 1 on (start_at_iter = 1), focus after iteration 1
    assert math.isnan(steps[1].metrics["council_gen"]) and math.isfinite(steps[2].metrics["council_gen"])
    assert math.isfinite(steps[3].metrics["focus_zero_one_0"])
    after = list(run.trainer.gens[0].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    saved = [it for it, _ in ck.list_checkpoints(tmp_path / "run")]
    assert saved == [4, 2]  # every 2 iterations, the newest 2 kept
    assert json.loads((tmp_path / "run" / "config.json").read_text())["name"] == "tiny"
    import pickle

    pickle.dumps((start, steps))  # records are plain data


def test_the_app_trains_in_one_process_whatever_its_environment(data, tmp_path, monkeypatch) -> None:
    """A launcher's variables left in the app's environment must not make it wait for other ranks."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    faces, bodies = data
    run = TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run")
    assert not run.parallel.active and run.parallel.is_main
    start, steps = _collect(run)
    assert len(steps) == 5 and (tmp_path / "run" / "curves.csv").exists()  # rank 0's files, written here


def test_same_seed_same_run(data, tmp_path) -> None:
    faces, bodies = data
    _, a = _collect(TrainRun(faces, bodies, _config(), out_dir=tmp_path / "a"))
    _, b = _collect(TrainRun(faces, bodies, _config(), out_dir=tmp_path / "b"))
    _, c = _collect(TrainRun(faces, bodies, _config(seed=7), out_dir=tmp_path / "c"))
    assert _same_metrics(a[1:], b[1:])
    np.testing.assert_array_equal(a[-1].frame, b[-1].frame)
    assert [s.metrics["gen_total"] for s in a[1:]] != [s.metrics["gen_total"] for s in c[1:]]


def test_stop_early_then_resume_equals_uninterrupted(data, tmp_path) -> None:
    faces, bodies = data
    _, full = _collect(TrainRun(faces, bodies, _config(checkpoint_every=0), out_dir=tmp_path / "full"))
    _, part = _collect(TrainRun(faces, bodies, _config(checkpoint_every=0), out_dir=tmp_path / "part"), stop_after=2)
    assert [s.step for s in part] == [0, 1, 2]
    assert [it for it, _ in ck.list_checkpoints(tmp_path / "part")] == [2]  # saved on close
    resumed_run = TrainRun(faces, bodies, _config(checkpoint_every=0), out_dir=tmp_path / "part", resume=True)
    start, resumed = _collect(resumed_run)
    assert start.config["start"] == 2
    assert [s.step for s in resumed] == [2, 3, 4]
    assert _same_metrics(resumed[1:], full[3:])
    a = ck.read_checkpoint(ck.checkpoint_path(tmp_path / "full", 4))
    b = ck.read_checkpoint(ck.checkpoint_path(tmp_path / "part", 4))
    for key in a.tensors:
        if key != "rng.torch":
            assert torch.equal(a.tensors[key], b.tensors[key]), key


def test_damaged_checkpoint_falls_back_to_previous(data, tmp_path) -> None:
    faces, bodies = data
    _collect(TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run"))
    newest = ck.checkpoint_path(tmp_path / "run", 4)
    newest.write_bytes(newest.read_bytes()[:-100])  # truncated
    notes: list[str] = []
    good = ck.latest_checkpoint(tmp_path / "run", notes=notes)
    assert good is not None and good.iteration == 2 and "damaged" in notes[0]
    # a flipped byte inside the data is caught by the checksum
    prev = ck.checkpoint_path(tmp_path / "run", 2)
    raw = bytearray(prev.read_bytes())
    raw[-5] ^= 0xFF
    prev.write_bytes(bytes(raw))
    with pytest.raises(ck.CheckpointError, match="damaged"):
        ck.read_checkpoint(prev)
    with pytest.raises(ConfigError, match="nothing to resume"):
        TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run", resume=True)


def _no_build(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("networks were built before the options were checked")

    monkeypatch.setattr(CouncilTrainer, "__init__", boom)


@pytest.mark.parametrize("case", ["missing", "empty", "size", "unknown", "fid", "resume", "recon", "member"])
def test_bad_options_refused_before_building(case, data, tmp_path, monkeypatch) -> None:
    faces, bodies = data
    _no_build(monkeypatch)
    kwargs = {"out_dir": tmp_path / "run"}
    cfg: object = _config()
    if case == "missing":
        faces = tmp_path / "nope"
    elif case == "empty":
        faces = tmp_path / "empty"
        faces.mkdir()
    elif case == "size":
        cfg = tiny_config().replace(data={"image_size": 30})
    elif case == "unknown":
        cfg = {"data": {"image_sise": 32}}
    elif case == "fid":
        cfg = _config(fid_every=2)
    elif case == "resume":
        kwargs["resume"] = True
    elif case == "recon":
        cfg = tiny_config().replace(loss={"recon_x_cyc_w": 10.0})
    elif case == "member":
        cfg = tiny_config().replace(council={"council_size": 0})
    with pytest.raises(ConfigError) as err:
        TrainRun(faces, bodies, cfg, **kwargs)
    assert "\n" not in str(err.value)


def test_resume_with_another_architecture_is_refused(data, tmp_path) -> None:
    faces, bodies = data
    _collect(TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run"))
    other = tiny_config().replace(gen={"dim": 8}, train={"iterations": 6})
    with pytest.raises(ConfigError, match="gen.dim"):
        TrainRun(faces, bodies, other, out_dir=tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run")


def test_translate_from_checkpoint_and_official_files(data, tmp_path) -> None:
    faces, bodies = data
    run = TrainRun(faces, bodies, _config(), out_dir=tmp_path / "run")
    _collect(run)
    face = faces / "img_0.png"
    images = translate(face, tmp_path / "run", seed=3, member="all", samples=2)
    assert len(images) == 4 and images[0].size == (32, 32) and images[0].mode == "RGB"
    again = translate(face, tmp_path / "run", seed=3, member=1, samples=2)
    assert np.array_equal(np.asarray(again[0]), np.asarray(images[2]))
    other = translate(face, tmp_path / "run", seed=4, member=1, samples=2)
    assert not np.array_equal(np.asarray(other[0]), np.asarray(again[0]))
    # an official a2b_gen file of member 1 (torch.save of {'a2b': state_dict}) gives the same images
    official = tmp_path / "official"
    official.mkdir()
    torch.save({"a2b": run.trainer.gens[1].state_dict()}, official / "a2b_gen_1_00000004.pt")
    from_pt = translate(face, official / "a2b_gen_1_00000004.pt", seed=3, member=0, samples=2, config=tiny_config())
    assert np.array_equal(np.asarray(from_pt[0]), np.asarray(again[0]))
    # the default (official selfie2anime) config does not fit these tiny weights: one-line error
    with pytest.raises(ck.CheckpointError, match="does not fit"):
        translate(face, official / "a2b_gen_1_00000004.pt", seed=3)
    with pytest.raises(ConfigError, match="member must be"):
        translate(face, tmp_path / "run", seed=0, member=5)
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        translate(face, tmp_path / "missing", seed=0)
    result = translate_face(face, tmp_path / "run", seed=0, member=0, samples=3)
    assert result.members == [0, 0, 0] and result.samples == [0, 1, 2] and len(result.masks) == 3


def test_fid_curve_with_a_tiny_feature_network(data, tmp_path) -> None:
    faces, bodies = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    run = TrainRun(faces, bodies, _config(fid_every=2, fid_num_images=4), out_dir=tmp_path / "run",
                   fid_faces_dir=faces, fid_bodies_dir=bodies, feature_extractor=net)
    _, steps = _collect(run)
    fids = [s.metrics["fid"] for s in steps[1:]]
    assert math.isnan(fids[0]) and math.isfinite(fids[1]) and fids[1] >= 0 and math.isfinite(fids[3])
    assert ck.read_checkpoint(ck.checkpoint_path(tmp_path / "run", 4)).history["iteration"] == [2, 4]


def test_cli_train_translate_and_errors(data, tmp_path, capsys, monkeypatch) -> None:
    faces, bodies = data
    out = tmp_path / "run"
    assert cli_main(["train", str(faces), str(bodies), "--config", "tiny", "--out", str(out), "--iterations", "2",
                     "--no-progress"]) == 0
    assert ck.list_checkpoints(out)
    # the spelling, --faces DIR --bodies DIR, is the same command
    assert cli_main(["train", "--faces", str(faces), "--bodies", str(bodies), "--config", "tiny", "--out", str(out),
                     "--iterations", "3", "--resume", "--no-progress"]) == 0
    assert ck.list_checkpoints(out)[0][0] == 3
    capsys.readouterr()
    assert cli_main(["train", str(faces), "--config", "tiny", "--out", str(out)]) == 2
    assert "give the full-body folder" in capsys.readouterr().err
    assert cli_main(["train", str(faces), str(bodies), "--faces", str(bodies), "--out", str(out)]) == 2
    assert "two face folders given" in capsys.readouterr().err
    sheet = tmp_path / "sheet.png"
    assert cli_main(["translate", str(faces / "img_1.png"), "--checkpoint", str(out), "--out", str(sheet),
                     "--samples", "2", "--seed", "0"]) == 0
    assert Image.open(sheet).size == (32 * 3, 32 * 4)
    assert (tmp_path / "sheet_m1_s1.png").is_file()
    # the spelling: no --out (FACE_body.png in the current folder), --num for the samples
    monkeypatch.chdir(tmp_path)
    assert cli_main(["translate", str(faces / "img_1.png"), "--checkpoint", str(out), "--member", "0", "--num", "3"]) == 0
    assert Image.open(tmp_path / "img_1_body.png").size == (32 * 4, 32 * 2)  # input + 3 samples; 1 member + mask
    capsys.readouterr()
    assert cli_main(["translate", str(faces / "img_1.png"), "--checkpoint", str(tmp_path / "none"), "--out",
                     str(sheet)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no checkpoint") and "python -m facegen train" in err and err.count("\n") == 1
    assert cli_main(["fid", str(faces), str(bodies), "--model", str(tmp_path / "no-weights.pth")]) == 2
    assert "pytorch-fid" in capsys.readouterr().err


def test_fid_inception_weights_load_from_safetensors(tmp_path) -> None:
    from safetensors.torch import save_file

    from facegen.fid import FIDWeightsMissing, load_feature_extractor
    from facegen.fid_inception import FIDInceptionV3

    torch.manual_seed(0)
    source = FIDInceptionV3()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    state["fc.weight"] = torch.zeros(1008, 2048)  # pytorch-fid's file also holds the classifier
    save_file(state, str(tmp_path / "inception.safetensors"))
    model = load_feature_extractor(str(tmp_path / "inception.safetensors"))
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    del state["Mixed_7c.branch_pool.conv.weight"]
    save_file(state, str(tmp_path / "broken.safetensors"))
    with pytest.raises(FIDWeightsMissing, match="missing Mixed_7c"):
        load_feature_extractor(str(tmp_path / "broken.safetensors"))
    with pytest.raises(UserError, match="pytorch-fid"):
        load_feature_extractor("pt_inception-2015-12-05-not-a-name")


def test_presets_and_official_yaml(tmp_path) -> None:
    p, b = proposed_config().validate(), baseline_config().validate()
    assert (p.data.image_size, p.data.batch_size, p.council.council_size, p.dis.norm) == (512, 1, 3, "in")
    assert (b.data.image_size, b.council.council_size, b.dis.norm) == (256, 4, "none")
    assert (b.loss.gan_w, b.loss.council_w, b.council.less_style_by, b.council.start_at_iter) == (26.0, 6.0, 0.7, 1000)
    yaml = pytest.importorskip("yaml")
    official = {
        "batch_size": 3, "gan_w": 24, "council_w": 12, "mask_total_w": 57, "mask_zero_or_one_w": 10,
        "mask_tv_w": 2.2, "focus_loss": {"focus_loss_start_at_iter": 15000, "mask_zero_or_one_epsilon": 0.01},
        "gen": {"dim": 64, "mlp_dim": 256, "style_dim": 64, "do_my_style": False, "useRandomDis": False},
        "dis": {"norm": "none", "numberOf_dis_relative_iteration": 1},
        "council": {"council_size": 4, "numberOfCouncil_dis_relative_iteration": 4,
                    "discriminetro_less_style_by": 0.7, "council_start_at_iter": 1000},
        "crop_image_height": 128, "do_RandomGrayscale": True, "RandomGrayscale_P": 0.05,
        "misc": {"do_telegram_report": True},
    }
    path = tmp_path / "glasses.yaml"
    path.write_text(yaml.safe_dump(official))
    cfg = load_config(path).validate()
    assert (cfg.loss.gan_w, cfg.loss.council_w, cfg.loss.mask_total_w, cfg.loss.focus_loss_start_at_iter) == (
        24.0, 12.0, 57.0, 15000)
    assert cfg.data.image_size == 128 and cfg.council.dis_iterations == 4
    js = tmp_path / "c.json"
    js.write_text(json.dumps(cfg.to_dict()))
    assert load_config(js) == cfg
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("nonexistent-preset")
