"""facegen's loss / FID plot next to the checkpoints: curves.csv and a self-contained curves.html."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from facegen.config import tiny_config
from facegen.curves import curves_figure, read_rows
from facegen.run import TrainRun, run_curves
from facegen_support import one_thread, write_images  # noqa: F401  (one_thread: an autouse fixture)




def _drain(run, stop_after: int | None = None) -> None:
    it = iter(run)
    for item in it:
        if stop_after is not None and getattr(item, "step", -1) >= stop_after:
            it.close()
            break


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_curves_written_with_every_checkpoint_and_kept_on_resume(tmp_path: Path) -> None:
    faces = write_images(tmp_path / "faces", 4, 0, (40, 36))
    bodies = write_images(tmp_path / "bodies", 4, 1, (32, 48))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    config = tiny_config().replace(train={"iterations": 4, "fid_every": 2, "fid_num_images": 3})
    out = tmp_path / "run"
    kwargs = dict(out_dir=out, fid_faces_dir=faces, fid_bodies_dir=bodies, feature_extractor=net)
    _drain(TrainRun(faces, bodies, config, **kwargs), stop_after=3)  # checkpoint at 2, then stopped at 3
    rows = _rows(out / "curves.csv")
    assert [r["iteration"] for r in rows] == ["1", "2", "3"]
    names = [c.name for c in run_curves(config)]
    assert list(rows[0]) == ["iteration", *names]  # every loss, per member and averaged, FID, lr
    assert math.isnan(float(rows[0]["fid"])) and float(rows[1]["fid"]) >= 0
    assert float(rows[2]["gen_total_1"]) > 0 and math.isfinite(float(rows[2]["dis"]))
    html = (out / "curves.html").read_text(encoding="utf-8")
    assert len(html) > 1_000_000 and "<script src=" not in html  # plotly.js inline: opens offline
    for label in ("G total", "D (LSGAN)", "council G (weighted)", "FID", "member 1", "iteration"):
        assert label in html, label
    # resumed from iteration 3 to 4: the rows before the checkpoint are kept, the new one appended
    _drain(TrainRun(faces, bodies, config, resume=True, **kwargs))
    again = _rows(out / "curves.csv")
    assert [r["iteration"] for r in again] == ["1", "2", "3", "4"]
    assert again[:3] == rows and float(again[3]["fid"]) >= 0
    assert not list(out.glob(".*"))  # no temporary files left


def test_read_rows_drops_rows_after_the_checkpoint_and_survives_damage(tmp_path: Path) -> None:
    (tmp_path / "curves.csv").write_text("iteration,dis,fid\n1,0.5,\n2,0.4,nan\n3,0.3,12\n")
    rows, note = read_rows(tmp_path, 2)
    assert note is None and [r["iteration"] for r in rows] == [1, 2] and math.isnan(rows[0]["fid"])
    (tmp_path / "curves.csv").write_text("iteration,dis\n1,zero\n")
    rows, note = read_rows(tmp_path, 2)
    assert rows == [] and "unreadable" in note
    rows, note = read_rows(tmp_path / "none", 5)
    assert rows == [] and "not found" in note


def test_figure_uses_iterations_and_joins_fid_points() -> None:
    curves = run_curves(tiny_config())
    rows = [{"iteration": float(i), "dis": 1.0 / i, "fid": (50.0 - i if i % 10 == 0 else math.nan)}
            for i in range(10, 101, 10)] + [{"iteration": 105.0, "dis": 0.01, "fid": math.nan}]
    figure = curves_figure(rows, curves)
    traces = {t.meta: t for t in figure.data}
    assert list(traces["dis"].x) == [r["iteration"] for r in rows]
    assert list(traces["fid"].x) == list(range(10, 101, 10)) and traces["fid"].mode == "lines+markers"
    titles = [figure.layout[a].title.text for a in figure.layout if a.startswith("xaxis")]
    assert "iteration" in titles and "step" not in titles
