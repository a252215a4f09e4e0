"""Evaluation sweeps that survive one odd run: grids from each run's own stops, float64 image norms,
fixed_step's floor, and a report whose Table 1s (every row) come first."""

import re

import numpy as np
import pytest

from pixelart.evaluation import EvalPhoto, evaluate, open_photos, write_outputs
from pixelart.labels import Label
from pixelart.stopping import make_strategy
from workbench.trajectory import Trajectory

STEPS = 101


def _rate_run(top: float) -> dict[str, np.ndarray]:
    """A norm that rises smoothly; the rate reaches ``top`` at the last step."""
    rate = top * np.linspace(0, 1, STEPS) ** 2
    return {"norm": 10 * (1 + rate), "rate": rate}


def _pooled_percentile_grid(runs, key, points):
    """The old grid: evenly spaced between the pooled 1st and 99th percentiles of all runs' values."""
    values = np.concatenate([r[key] for r in runs])
    lo, hi = np.percentile(values, [1, 99])
    return np.unique(np.linspace(lo, hi, points))


def test_norm_rate_grid_spreads_typical_runs_stops_despite_one_outlier():
    runs = [_rate_run(top) for top in np.linspace(0.8, 1.2, 12)] + [_rate_run(600.0)]  # one tiny d_0
    strategy = make_strategy("norm_rate")
    grid = strategy.sweep_grid(runs, 41)
    typical = runs[:-1]
    stops = np.array([[strategy.with_param(float(eps)).decide(r).step for r in typical] for eps in grid])
    # most grid values stop a typical run somewhere inside it, at many different steps
    inside = ((stops > 0) & (stops < STEPS - 1)).all(axis=1)
    assert inside.sum() >= 30 and len(np.unique(stops[:, 0])) >= 30
    # the pooled percentiles put nearly every value above the typical runs' rates: they all stop at 0 or never
    old = _pooled_percentile_grid(runs, "rate", 41)
    assert (old <= 1.2).sum() <= 3 and old.max() > 100


@pytest.mark.parametrize("name", ["norm_threshold", "norm_rate", "norm_rate_cap"])
def test_every_threshold_grid_lies_within_the_typical_runs(name):
    runs = [_rate_run(top) for top in (0.9, 1.0, 1.1)] + [_rate_run(500.0)]
    grid = make_strategy(name).sweep_grid(runs, 21)
    key = "norm" if name == "norm_threshold" else "rate"
    highest_typical = max(r[key].max() for r in runs[:-1])
    assert len(grid) >= 15 and grid.max() <= highest_typical


@pytest.mark.parametrize("n, step", [(2.5, 2), (3.5, 3), (4.99, 4), (6.0, 6)])
def test_fixed_step_takes_the_floor_of_a_non_integer_n(n, step):
    series = {"norm": np.arange(20.0)}
    assert make_strategy("fixed_step", n).decide(series).step == step
    online = next(t for t in range(1, 21) if make_strategy("fixed_step", n).check({"norm": series["norm"][:t]}))
    assert online == step + 1  # fires as soon as the step is recorded, the same step as offline


def _bundle(folder, name, palette, frames, norms):
    traj = Trajectory(palette=palette, input_image=np.zeros((32, 32, 3), np.uint8), frame_size=frames.shape[1:],
                      config={"run_id": f"run-{name}"})
    for frame, d in zip(frames, norms):
        traj.append(frame, {"norm": float(d)})
    return traj.save(folder / f"{name}.bundle")


def test_image_norm_distance_is_float64_exact(tmp_path):
    rng = np.random.default_rng(4)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    frames = rng.integers(0, 16, (3, 8, 8), dtype=np.uint8)
    photo = EvalPhoto(Trajectory.load(_bundle(tmp_path, "P", palette, frames, [1.0, 2.0, 3.0])))
    for a, b in ((0, 1), (1, 2), (0, 2)):
        # independent: upscale both frames (each cell 4 x 4 pixels), float64 RGB in [0, 1]
        up = [np.kron(frames[i], np.ones((4, 4), int)) for i in (a, b)]
        rgb = [palette[u].astype(np.float64) / 255.0 for u in up]
        want = np.sqrt(((rgb[0] - rgb[1]) ** 2).sum())
        assert photo.distance(a, b) == pytest.approx(want, rel=1e-13, abs=0)


def test_report_puts_every_table1_first_with_every_row(tmp_path):
    folder = tmp_path / "bundles"
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    for name, slope in (("A", 1), ("B", 2), ("C", 3)):
        frames = np.zeros((21, 2, 2), np.uint8)
        for t in range(21):
            frames[t].flat[: min(t // 5, 4)] = 1
        _bundle(folder, name, palette, frames, 10 + slope * np.arange(21))
    labels = [Label(f"{b}-{who}", f"run-{b}", f"{b}.bundle", who, s, e)
              for who, shift in (("aki", 0), ("ben", 1), ("cy", 2)) for b, s, e in
              (("A", 4 + shift, 9 + shift), ("B", 2, 8 + shift), ("C", 6, 12))]
    strategies = ["fixed_step", "norm_threshold", "norm_rate", "clip_max", "norm_rate_cap", "dino_max",
                  "norm_rate_clip", "part_rate"]
    result = evaluate(open_photos(folder), labels, strategies, points=5)
    write_outputs(result, tmp_path / "out", photos=False)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    tables = [h for h in headings if h.startswith("Table 1 against")]
    assert [t.rsplit(" (", 1)[0] for t in tables] == [f"Table 1 against {r.name}" for r in result.references]
    assert len(tables) == 4 and headings[: len(tables)] == tables  # aki, ben, cy, consensus: all at the top
    for ref in result.references:
        start = page.index(f"Table 1 against {ref.name} (")
        table = page[start: page.index("</table>", start)]
        shown = table.count("<tr>") - 1  # minus the header
        assert shown == len(ref.table()) + len(ref.skipped) == len(strategies)
    assert "Sweep grids: fixed_step: " in page and "; norm_threshold: " in page
