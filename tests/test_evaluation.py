"""Evaluation of stopping strategies on synthetic bundles whose every metric is computed by hand.

The synthetic bundles: 2x2 frames over a black/white palette and a black 4x4 input (working
resolution 4x4, so each cell covers 4 pixels). At step t the first k(t) cells (row-major) are white,
so two frames differ in |k(a) - k(b)| cells and ||x_a - x_b||_2 = sqrt(12 |k(a) - k(b)|). The norm
series are written by hand, so where each strategy stops is known.
"""

import csv
import math

import numpy as np
import pytest

from pixelart.cli import main
from workbench.errors import BundleError, ConfigError
from pixelart.evaluation import (
    EvalPhoto, agreement, consensus_ranges, evaluate, open_photos, parse_strategies, range_iou, reference_range,
    score_matrix, score_stop, stop_matrix,
)
from pixelart.labels import Label, LabelStore
from pixelart.metrics import art_at_working
from workbench.drift import l2_distance
from pixelart.stopping import make_strategy
from workbench.trajectory import Trajectory

S12 = math.sqrt(12)
PALETTE = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)


def k_white(t: int) -> int:
    return min(t // 5, 4)


def make_bundle(folder, name, norm, *, clip=None, k=k_white, run_id=None, extra=None):
    traj = Trajectory(palette=PALETTE, input_image=np.zeros((4, 4, 3), np.uint8), frame_size=(2, 2),
                      config={"run_id": run_id or f"run-{name}"})
    for t, d in enumerate(norm):
        frame = np.zeros(4, np.uint8)
        frame[: k(t)] = 1
        metrics = {"norm": float(d)}
        if clip is not None:
            metrics["clip"] = float(clip[t])
        for key, values in (extra or {}).items():
            metrics[key] = float(values[t])
        traj.append(frame.reshape(2, 2), metrics)
    return traj.save(folder / f"{name}.bundle")


def label(bundle_id, start, end, annotator="aki"):
    return Label(f"{bundle_id}-{annotator}-{start}", bundle_id, f"{bundle_id}.bundle", annotator, start, end)


T = np.arange(21)
NORMS = {"A": 10 + T, "B": 10 + 2 * T, "C": 20 + T}
RANGES = {"A": [(4, 8)], "B": [(0, 2), (10, 14)], "C": [(6, 12)]}


@pytest.fixture()
def hand_case(tmp_path):
    folder = tmp_path / "bundles"
    for name, norm in NORMS.items():
        make_bundle(folder, name, norm)
    labels = [label(f"run-{n}", s, e) for n, rs in RANGES.items() for s, e in rs]
    return folder, labels


def test_multi_range_rule():
    ranges = [(0, 2), (10, 14)]
    assert reference_range(8, ranges) == (10, 14)  # nearer interval
    assert reference_range(3, ranges) == (0, 2)
    assert reference_range(12, [(0, 20), (10, 14)]) == (10, 14)  # inside both: nearest centre
    s = score_stop(8, ranges)
    assert not s.hit and s.center_error == pytest.approx(1.0) and s.center_step == 12
    assert score_stop(11, ranges).hit
    assert score_stop(5, [(5, 5)]).center_error == 0 and score_stop(7, [(5, 5)]).center_error == 2  # w = 1


def test_table1_by_hand(hand_case):
    folder, labels = hand_case
    result = evaluate(open_photos(folder), labels, ["fixed_step=8", "norm_threshold=14.5", "norm_rate=0.45"])
    assert [r.name for r in result.references] == ["aki"]
    ref = result.references[0]
    rows = {r["strategy"]: r for r in ref.table()}
    # fixed step 8: A hit (c 6, w 4), B miss (nearest range 10..14), C hit (c 9, w 6)
    assert rows["fixed_step"]["hit_rate"] == pytest.approx(2 / 3)
    assert rows["fixed_step"]["rel_center_error"] == pytest.approx((0.5 + 1.0 + 1 / 6) / 3)
    assert rows["fixed_step"]["image_norm_error"] == pytest.approx(S12 / 3, rel=1e-6)  # B: k(8)=1 vs k(12)=2
    # norm threshold 14.5 stops A at 5, B at 3, C at 0 (its norm starts above)
    stops = {s.photo.name: s for s in ref.result("norm_threshold").per_photo()}
    assert {n: stops[f"{n}.bundle"].step for n in "ABC"} == {"A": 5, "B": 3, "C": 0}
    assert rows["norm_threshold"]["hit_rate"] == pytest.approx(1 / 3)
    assert rows["norm_threshold"]["rel_center_error"] == pytest.approx((0.25 + 1.0 + 1.5) / 3)
    assert rows["norm_threshold"]["image_norm_error"] == pytest.approx(S12 / 3, rel=1e-6)
    assert stops["B.bundle"].range == (0, 2) and stops["C.bundle"].center_step == 9
    # norm rate 0.45: r = t/10, t/5, t/20 -> stops 5, 3, 10
    assert [s.step for s in ref.result("norm_rate").per_photo()] == [5, 3, 10]
    assert rows["norm_rate"]["hit_rate"] == pytest.approx(2 / 3)
    assert rows["norm_rate"]["rel_center_error"] == pytest.approx((0.25 + 1.0 + 1 / 6) / 3)
    assert rows["norm_rate"]["image_norm_error"] == pytest.approx(S12 / 3, rel=1e-6)
    # given parameters: nothing is chosen, so leave-one-out equals in-sample and says so
    assert rows["norm_rate"]["loo_hit_rate"] == rows["norm_rate"]["hit_rate"] and not rows["norm_rate"]["loo_honest"]
    # the frames behind the image norm error
    b = stops["B.bundle"]
    assert b.stopped_rgb.shape == (2, 2, 3) and (b.center_rgb == 0).all()
    # Fig. 3 data: one centre per range
    assert sorted(c["center"] for c in ref.centers()) == [1, 6, 9, 12]


def test_fast_image_norm_equals_the_metrics_definition(tmp_path):
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (7, 3)).astype(np.uint8)
    traj = Trajectory(palette=palette, input_image=np.zeros((40, 24, 3), np.uint8), frame_size=(11, 7),
                      config={"run_id": "r"})
    for _ in range(5):
        traj.append(rng.integers(0, 7, (11, 7)).astype(np.uint8), {"norm": 1.0})
    photo = EvalPhoto(traj)
    for a, b in [(0, 1), (2, 4), (3, 3)]:
        art_a, art_b = (art_at_working(traj.frame(i), palette, (40, 24)) for i in (a, b))
        want = l2_distance(art_a, art_b)
        assert photo.distance(a, b) == pytest.approx(want, rel=1e-5)


def test_sweep_in_sample_and_leave_one_out_differ(tmp_path):
    # fixed step over the grid 0, 20, 40 (41 steps, 3 points). In-sample: 20 hits B and C (2/3).
    # Held out A: B, C choose 20 -> A misses. Held out B: A, C tie on hits; 0 has the lower centre
    # error (0.5 + 20/18 < 4.5) -> B at 0 misses. Held out C: 0 again (0.5 + 20/12 < 4.5) -> misses.
    folder = tmp_path / "b"
    for n in "ABC":
        make_bundle(folder, n, np.full(41, 10.0))
    labels = [label("run-A", 0, 4), label("run-B", 14, 26), label("run-C", 11, 29)]
    res = evaluate(open_photos(folder), labels, ["fixed_step"], points=3).references[0].result("fixed_step")
    assert res.scores.params == [0, 20, 40]
    assert res.best_param == 20
    row = res.row()
    assert row["hit_rate"] == pytest.approx(2 / 3) and row["rel_center_error"] == pytest.approx(4.5 / 3)
    assert res.loo.params == [20, 0, 0]
    assert row["loo_hit_rate"] == 0 and row["loo_honest"]
    assert row["loo_rel_center_error"] == pytest.approx((4.5 + 20 / 12 + 20 / 18) / 3)
    assert row["loo_params"] == "0 ×2, 20 ×1"


def test_best_parameter_tie_breaks(tmp_path):
    # both params hit everything; the one nearer the centres wins on relative centre error
    folder = tmp_path / "b"
    make_bundle(folder, "A", np.full(11, 1.0))
    photos = open_photos(folder)
    strategy = make_strategy("fixed_step")
    steps, fired = stop_matrix(strategy, [2, 5], photos)
    scores = score_matrix(strategy, [2, 5], photos, {"run-A": [(0, 10)]}, steps, fired)
    assert scores.hit.all() and scores.best() == 1


def test_annotators_agreement_and_consensus(tmp_path):
    a, b, c = [(0, 10)], [(5, 14)], [(8, 20)]
    assert range_iou(a, b) == pytest.approx(6 / 15)
    assert range_iou([(0, 2), (10, 14)], [(0, 12)]) == pytest.approx(6 / 15)
    assert consensus_ranges({"aki": a, "ben": b}) == [(5, 10)]  # two annotators: the intersection
    assert consensus_ranges({"aki": a, "ben": b, "cy": c}) == [(5, 14)]  # at least two of three
    assert consensus_ranges({"aki": a, "ben": b, "cy": c}, "intersection") == [(8, 10)]
    assert consensus_ranges({"aki": a, "ben": b, "cy": c}, "union") == [(0, 20)]
    ag = agreement({"aki": {"x": a}, "ben": {"x": b}, "cy": {"x": c}})
    assert ag.per_photo[0]["mean_iou"] == pytest.approx((6 / 15 + 3 / 21 + 7 / 16) / 3)
    assert ag.pairwise[("aki", "ben")] == pytest.approx(0.4)

    folder = tmp_path / "b"
    make_bundle(folder, "A", np.full(21, 1.0))
    make_bundle(folder, "B", np.full(21, 1.0))
    labels = [label("run-A", 0, 10, "aki"), label("run-A", 5, 14, "ben"),
              label("run-B", 0, 3, "aki"), label("run-B", 10, 12, "ben")]
    result = evaluate(open_photos(folder), labels, ["fixed_step=6"])
    names = [r.name for r in result.references]
    assert names == ["aki", "ben", "consensus (majority)"]
    hit = {r.name: r.table()[0]["hit_rate"] for r in result.references}
    assert hit["aki"] == pytest.approx(0.5) and hit["ben"] == pytest.approx(0.5)  # A hit, B miss
    cons = result.reference("consensus (majority)")
    assert [p.name for p in cons.photos] == ["A.bundle"] and hit["consensus (majority)"] == 1.0
    assert any("no majority consensus on B.bundle" in n for n in result.notes)
    assert result.agreement.mean_iou == pytest.approx((0.4 + 0.0) / 2)
    only_ben = evaluate(open_photos(folder), labels, ["fixed_step=6"], annotators=["ben"])
    assert [r.name for r in only_ben.references] == ["ben"]


def test_strategies_without_their_series_are_skipped_with_a_reason(hand_case):
    folder, labels = hand_case
    result = evaluate(open_photos(folder), labels, ["clip_max", "part_rate", "norm_rate=0.45"])
    ref = result.references[0]
    assert [r.name for r in ref.strategies] == ["norm_rate"]
    assert "clip" in ref.skipped["clip_max"] and "part" in ref.skipped["part_rate"]


def test_combined_strategies_score_beside_the_seed(tmp_path):
    folder = tmp_path / "b"
    clip = np.concatenate([np.linspace(0.5, 0.9, 8), np.linspace(0.9, 0.5, 14)[1:]])  # peak 0.9 at 7
    make_bundle(folder, "A", 10 + T, clip=clip)
    labels = [label("run-A", 6, 9)]
    wanted = ["norm_rate_cap=5", "norm_rate_clip=0.3", "norm_rate=0.3"]
    ref = evaluate(open_photos(folder), labels, wanted).references[0]
    steps = {r.name: r.per_photo()[0].step for r in ref.strategies}
    # r_t = t/10 never passes 5 and the cap 1000 lies beyond the 21 steps -> the last step; r_t > 0.3
    # from t = 4; CLIP is more than 0.02 below its best (0.9 at 7) from step 8 on (0.869)
    assert steps == {"norm_rate_cap": 20, "norm_rate_clip": 8, "norm_rate": 4}


def test_evaluate_cli_writes_table_figures_and_photos(hand_case, tmp_path, capsys):
    folder, labels = hand_case
    store = LabelStore(tmp_path / "labels.jsonl")
    for lab in labels:
        store.add(lab.bundle_id, lab.annotator, lab.start, lab.end, bundle=lab.bundle)
    out = tmp_path / "eval"
    code = main(["evaluate", str(folder), str(store.path), "--strategies", "fixed_step=8,norm_rate",
                 "--strategies", "norm_threshold=14.5", "--out", str(out), "--points", "5"])
    assert code == 0
    text = capsys.readouterr().out
    assert "reference: aki (3 photos)" in text and "fixed_step" in text and "norm_threshold" in text
    with open(out / "table1.csv") as fh:
        rows = {r["strategy"]: r for r in csv.DictReader(fh)}
    assert float(rows["fixed_step"]["hit_rate"]) == pytest.approx(2 / 3, abs=1e-5)
    assert float(rows["norm_threshold"]["rel_center_error"]) == pytest.approx(2.75 / 3, abs=1e-5)
    with open(out / "sweeps.csv") as fh:
        sweep = [r for r in csv.DictReader(fh) if r["strategy"] == "norm_rate"]
    assert len(sweep) == 5
    for name in ("per_photo.csv", "loo.csv", "centers.csv", "report.html"):
        assert (out / name).stat().st_size > 0
    assert "plotly" in (out / "report.html").read_text()[:5_000_000].lower()
    pair = out / "photos" / "aki" / "B" / "fixed_step.png"
    assert pair.is_file()
    assert main(["evaluate", str(folder), str(store.path), "--strategies", "oracle"]) == 2


def test_plotly_figures_for_the_evaluate_tab(hand_case):
    from pixelart import evaluation_plots as plots

    folder, labels = hand_case
    labels = labels + [label("run-A", 3, 9, "ben")]
    result = evaluate(open_photos(folder), labels, ["fixed_step", "norm_rate=0.45"], points=5)
    ref = result.references[0]
    sweep = plots.sweep_figure(ref.result("fixed_step"))
    assert len(sweep.data) == 3 and list(sweep.data[0].x) == ref.result("fixed_step").scores.params
    assert len(plots.sweeps_figure(ref).data) == 6  # one swept strategy: 3 curves + 3 best markers
    hist = plots.centers_figure(ref)
    assert sum(hist.data[0].y) == 4  # four labeled ranges
    assert plots.table_figure(ref).data[0].type == "table"
    pairs = plots.breakdown_figure(ref.result("norm_rate").per_photo())
    assert [t.type for t in pairs.data] == ["image"] * 6
    assert plots.agreement_figure(result.agreement).data[0].type == "heatmap"


def test_only_unimportant_part_series_are_not_recorded_rather_than_never_fired(tmp_path):
    folder = tmp_path / "b"
    make_bundle(folder, "A", 10 + T, extra={"part:Hair": 0.1 + 0.2 * T, "part:Background": 0.1 + 0 * T})
    ref = evaluate(open_photos(folder), [label("run-A", 4, 8)], ["part_rate", "norm_rate=0.45"]).references[0]
    assert [r.name for r in ref.strategies] == ["norm_rate"]
    assert "not recorded: part:<Label> series" in ref.skipped["part_rate"]


def test_a_folder_opens_leniently_and_its_skipped_bundles_become_notes(hand_case):
    folder, labels = hand_case
    (folder / "damaged.bundle").write_bytes(b"not a zip")
    (folder / "A-copy.bundle").write_bytes((folder / "A.bundle").read_bytes())  # the same run twice
    photos = open_photos(folder)
    assert [p.name for p in photos] == ["A-copy.bundle", "B.bundle", "C.bundle"]  # the first file of run-A wins
    assert len(photos.skipped) == 2 and any(line.startswith("damaged.bundle") for line in photos.skipped)
    result = evaluate(photos, labels, ["fixed_step=8"])
    assert result.references[0].table()[0]["n_photos"] == 3
    assert sum("bundle left out: damaged.bundle" in n for n in result.notes) == 1
    assert any("the same run as" in n for n in result.notes)
    # a list of paths is taken as given: a damaged one is an error
    with pytest.raises(BundleError):
        open_photos([folder / "B.bundle", folder / "damaged.bundle"])
    with pytest.raises(BundleError, match="same run"):
        open_photos([folder / "A.bundle", folder / "A-copy.bundle"])
    empty = folder.parent / "only-damaged"
    empty.mkdir()
    (empty / "x.bundle").write_bytes(b"")
    with pytest.raises(BundleError, match="could be opened"):
        open_photos(empty)


def test_parse_strategies_reads_specs_as_the_cli_does():
    assert parse_strategies(["norm_rate", " fixed_step = 1000", ("clip_max", None), ("norm_threshold", 3)]) == [
        ("norm_rate", None), ("fixed_step", 1000.0), ("clip_max", None), ("norm_threshold", 3.0)]
    with pytest.raises(ConfigError, match="must be a number"):
        parse_strategies(["norm_rate=high"])
    with pytest.raises(ConfigError, match="choose from"):
        parse_strategies(["oracle"])
    with pytest.raises(ConfigError, match="choose from"):
        parse_strategies([("oracle", None)])


def test_annotators_whose_names_sanitise_alike_get_their_own_files(hand_case, tmp_path, capsys):
    folder, labels = hand_case
    store = LabelStore(tmp_path / "labels.jsonl")
    for who in ("あき", "ゆう"):
        for lab in labels:
            store.add(lab.bundle_id, who, lab.start, lab.end, bundle=lab.bundle)
    out = tmp_path / "eval"
    assert main(["evaluate", str(folder), str(store.path), "--strategies", "fixed_step=8", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "photos").iterdir()) == ["consensus_majority", "reference", "reference_2"]


def test_an_unknown_strategy_reference_or_sweep_size_is_a_one_line_config_error(hand_case, capsys):
    """What the Evaluate tab's dropdowns and number field pass on (were a KeyError and numpy's ValueError)."""
    folder, labels = hand_case
    result = evaluate(open_photos(folder), labels, ["fixed_step=8"])
    with pytest.raises(ConfigError) as info:
        result.references[0].result("norm_rate")
    assert str(info.value) == "norm_rate was not scored against aki; choose one of the scored ones: fixed_step"
    with pytest.raises(ConfigError) as info:
        result.reference("ben")
    assert str(info.value) == "no reference named 'ben' in this evaluation; choose one of: aki"
    for points in (1, -3, 2.5, True):
        with pytest.raises(ConfigError) as info:
            evaluate(open_photos(folder), labels, ["fixed_step"], points=points)
        assert str(info.value) == f"sweep points must be a whole number of at least 2, got {points!r}"
    assert main(["evaluate", str(folder), str(folder / "none.jsonl"), "--points", "1"]) == 2
    assert capsys.readouterr().err == "error: sweep points must be a whole number of at least 2, got 1\n"  # first
