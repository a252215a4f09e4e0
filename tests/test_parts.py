"""Part-aware stopping: per-part norm series (recorded, or computed from a stored or drawn mask) and
the strategy that stops when the most degraded important part passes its limit."""

import numpy as np
import pytest
from PIL import Image

from pixelart.cli import main
from pixelart.config import MetricsConfig, RunConfig
from workbench.errors import ConfigError
from pixelart.evaluation import evaluate, open_photos
from pixelart.labels import Label, LabelStore
from pixelart.metrics import art_at_working
from workbench.drift import l2_distance
from pixelart.run import PixelArtRun
from workbench.loop import record_run
from pixelart.stopping import NEW_STRATEGIES, SEED_STRATEGIES, STRATEGIES, make_strategy
from pixelart.stopping.parts import ATR_LABELS, PartMap, part_series
from workbench.trajectory import Trajectory

BAG, UPPER = ATR_LABELS.index("Bag"), ATR_LABELS.index("Upper-clothes")
GRAY, RED, LIGHT, BLACK = 0, 1, 2, 3
PALETTE = np.array([[128, 128, 128], [255, 0, 0], [160, 160, 160], [0, 0, 0]], np.uint8)


def _case():
    """A 16x16 photo: a red bag (top-left 4x4 pixels), a gray top (rows 4-15), gray background.

    Frames are 8x8 (2x2 pixels per cell). Steps 0-4: bag exact, top slightly too light. From step 5
    the bag turns gray (lost) while the top becomes exact, so the whole-image norm hardly moves
    (rate 0.15) but the bag's own norm jumps. From step 15 everything is black.
    """
    photo = np.full((16, 16, 3), 128, np.uint8)
    photo[:4, :4] = (255, 0, 0)
    labels = np.zeros((16, 16), np.uint8)
    labels[:4, :4] = BAG
    labels[4:, :] = UPPER
    frames = []
    for t in range(20):
        f = np.full((8, 8), GRAY, np.uint8)
        if t < 5:
            f[:2, :2] = RED
            f[2:, :] = LIGHT
        if t >= 15:
            f[:] = BLACK
        frames.append(f)
    return photo, labels, frames


def _bundle(path, *, with_mask=True):
    photo, labels, frames = _case()
    traj = Trajectory(palette=PALETTE, input_image=photo, frame_size=(8, 8), config={"run_id": path.stem},
                      extras={"parts": labels} if with_mask else None)
    if with_mask:
        traj.config.update(PartMap(labels, ATR_LABELS).config())
    work = photo.astype(np.float32) / 255
    for f in frames:
        traj.append(f, {"norm": l2_distance(art_at_working(f, PALETTE, (16, 16)), work)})
    return traj.save(path)


def test_part_series_from_the_stored_mask_by_hand(tmp_path):
    traj = Trajectory.load(_bundle(tmp_path / "look.bundle"))
    pmap = PartMap.from_trajectory(traj)
    assert set(pmap.tracked()) == {"part:Bag", "part:Upper-clothes", "part:Background"}
    series = part_series(traj, pmap)
    bag, top = series["part:Bag"], series["part:Upper-clothes"]
    lost = np.sqrt((127**2 + 128**2 + 128**2) / 255**2)  # RMS distance of a gray bag to the red one
    assert bag[:5] == pytest.approx(0, abs=1e-9) and bag[5:15] == pytest.approx(lost)
    assert top[:5] == pytest.approx(np.sqrt(3 * (32 / 255) ** 2)) and top[5:15] == pytest.approx(0, abs=1e-9)
    # the fast table equals upscaling each frame and measuring inside the mask
    work = traj.input_image.astype(np.float64) / 255
    for t in (0, 7, 16):
        sq = np.square(art_at_working(traj.frame(t), PALETTE, (16, 16)) - work).sum(-1)
        for name, label in pmap.tracked().items():
            inside = pmap.labels == label
            assert series[name][t] == pytest.approx(np.sqrt(sq[inside].mean()), rel=1e-5, abs=1e-7)


def test_part_rate_stops_when_one_part_is_lost_and_the_whole_norm_does_not(tmp_path):
    traj = Trajectory.load(_bundle(tmp_path / "look.bundle"))
    series = traj.series_map()
    norm = series["norm"]
    assert (norm[5] - norm[0]) / norm[0] == pytest.approx(0.15, abs=0.01)  # the whole image barely moves
    series.update(part_series(traj, PartMap.from_trajectory(traj)))
    d = make_strategy("part_rate", 0.5).decide(series)
    assert d.step == 5 and d.fired and "Bag" in d.reason
    assert make_strategy("norm_rate", 0.5).decide(series).step == 15
    # only the top watched: it improves at 5, so the strategy waits for the black frames
    assert make_strategy("part_rate", 0.5, parts=("Upper-clothes",)).decide(series).step == 15
    # online, step by step, it fires at the same step
    online = next(d for t in range(1, 21) if (d := make_strategy("part_rate", 0.5).check(
        {k: v[:t] for k, v in series.items()})))
    assert online.step == 5


def test_evaluation_computes_part_series_from_the_stored_mask(tmp_path):
    folder = tmp_path / "bundles"
    _bundle(folder / "look.bundle")
    labels = [Label("1", "look", "look.bundle", "aki", 2, 6)]  # c = 4, w = 4
    ref = evaluate(open_photos(folder), labels, ["part_rate=0.5", "norm_rate=0.5"]).references[0]
    rows = {r["strategy"]: r for r in ref.table()}
    assert rows["part_rate"]["hit_rate"] == 1 and rows["part_rate"]["rel_center_error"] == pytest.approx(0.25)
    assert rows["norm_rate"]["hit_rate"] == 0 and rows["norm_rate"]["rel_center_error"] == pytest.approx(11 / 4)


def test_a_drawn_mask_png_serves_bundles_recorded_without_one(tmp_path, capsys):
    folder, masks = tmp_path / "bundles", tmp_path / "masks"
    _bundle(folder / "look.bundle", with_mask=False)
    _, labels, _ = _case()
    masks.mkdir()
    Image.fromarray(np.kron(labels, np.ones((4, 4), np.uint8))).save(masks / "look.png")  # drawn at 64x64
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("look", "aki", 2, 6)
    assert main(["evaluate", str(folder), str(store.path), "--strategies", "part_rate=0.5", "--no-photos",
                 "--part-masks", str(masks)]) == 0
    printed = capsys.readouterr().out
    assert "part_rate" in printed and "not scored" not in printed
    result = evaluate(open_photos(folder), store.labels(), ["part_rate=0.5"],
                      part_masks={"look": PartMap.from_png(masks / "look.png", (16, 16))})
    assert result.references[0].result("part_rate").per_photo()[0].step == 5
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(masks / "rgb.png")
    with pytest.raises(ConfigError, match="single-channel"):
        PartMap.from_png(masks / "rgb.png", (16, 16))


def test_a_drawn_mask_serves_bundles_whose_recorded_parts_the_strategy_cannot_use(tmp_path):
    # recorded with only background ("part:Background", not an important part): the drawn mask is used
    folder = tmp_path / "bundles"
    path = _bundle(folder / "look.bundle", with_mask=False)
    traj = Trajectory.load(path)
    background_only = Trajectory(palette=PALETTE, input_image=traj.input_image, frame_size=(8, 8),
                                 config={"run_id": "look"})
    for t in range(len(traj)):
        background_only.append(traj.frame(t), {"norm": traj.series("norm")[t], "part:Background": 0.1})
    background_only.save(path)
    _, labels, _ = _case()
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("look", "aki", 2, 6)
    result = evaluate(open_photos(folder), store.labels(), ["part_rate=0.5"],
                      part_masks={"look": PartMap(labels, ATR_LABELS, "drawn")})
    assert result.references[0].result("part_rate").per_photo()[0].step == 5


def test_registry_keeps_the_seed_five_apart_and_takes_options():
    assert SEED_STRATEGIES == ("fixed_step", "norm_threshold", "norm_rate", "clip_max", "dino_max")
    assert NEW_STRATEGIES == ("part_rate", "norm_rate_cap", "norm_rate_clip")
    assert set(STRATEGIES) == set(SEED_STRATEGIES) | set(NEW_STRATEGIES)
    assert make_strategy("norm_rate_cap", 0.2, cap=10).with_param(0.3).cap == 10
    assert make_strategy("norm_rate_clip", 0.2, delta=0.1).with_param(0.3).delta == 0.1
    with pytest.raises(ConfigError, match="takes the options cap"):
        make_strategy("norm_rate_cap", 0.2, patience=3)


def test_norm_rate_cap_and_clip_gate_online_equal_offline():
    t = np.arange(300)
    norm = 10 + 0.01 * t
    clip = np.where(t < 100, 0.5 + t / 1000, 0.6 - (t - 100) / 500)
    series = {"norm": norm, "clip": clip}
    cap = make_strategy("norm_rate_cap", 0.05, cap=40)
    assert cap.decide(series).step == 40  # r_t > 0.05 only from t = 51
    assert make_strategy("norm_rate_cap", 0.05, cap=400).decide(series).step == 51
    gate = make_strategy("norm_rate_clip", 0.05, delta=0.025)
    assert gate.decide(series).step == 113  # CLIP more than 0.025 below its best (0.6 at 100) from 113
    # online the semantic values arrive in batches of 10 (NaN until then): same decision step
    for t_now in range(1, 301):
        seen = {"norm": norm[:t_now], "clip": clip[:t_now].copy()}
        seen["clip"][(t_now // 10) * 10:] = np.nan
        d = gate.check(seen)
        if d is not None:
            assert d.step == 113 and t_now == 120
            break
    else:
        pytest.fail("never fired online")


def test_a_tiny_run_records_part_series_and_its_mask():
    img = np.full((240, 160, 3), (225, 220, 210), np.uint8)
    img[40:140, 40:120] = (150, 30, 40)
    config = RunConfig(model="tiny-sd", prompt="a coat", size=(16, 16), colors=6, steps=4, seed=1,
                       metrics=MetricsConfig(encoders=()))
    run = PixelArtRun(Image.fromarray(img), config)
    traj = record_run(run).trajectory
    parts = [n for n in traj.series_names if n.startswith("part:")]
    assert parts and traj.extras["parts"].shape == run.photo_work.shape[:2]
    assert traj.config["part_labels"][0] == "Background" and "tiny" in traj.config["part_source"]
    offline = part_series(traj, PartMap.from_trajectory(traj))
    for name in parts:
        assert offline[name] == pytest.approx(traj.series(name), rel=1e-5)
    off = PixelArtRun(Image.fromarray(img), config.replace(metrics=MetricsConfig(encoders=(), parts="off")))
    assert off.parts is None and "parts" not in off.start.extras
    with pytest.raises(ConfigError, match="parts must be one of"):
        PixelArtRun(Image.fromarray(img), config.replace(metrics=MetricsConfig(parts="maybe")))
