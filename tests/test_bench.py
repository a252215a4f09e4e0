"""Smoke test of the step benchmark on the tiny back end: rows and columns of its CSV, not its timings."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_sds_step as bench  # noqa: E402
from bench import full_size_configs as cfgs  # noqa: E402
from bench.common import append_csv, summarize  # noqa: E402


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_tiny_model_three_steps_writes_one_full_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sds_step.csv"
    status = bench.main(["--model", "tiny", "--steps", "3", "--warmup", "1", "--device", "cpu",
                         "--semantic-every", "2", "--csv", str(out)])
    assert status == 0
    header, rows = _rows(out)
    assert header == bench.COLUMNS
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == "tiny" and row["device"] == "cpu" and row["dtype"] == "float32"
    assert row["steps"] == "3" and row["warmup"] == "1" and row["controlnets"] == "2"
    assert row["model_size"] == "64x64" and row["random_weights"] == "False"
    for stage in bench.REPORTED:
        for stat in bench.STATS:
            value = float(row[f"{stage}_{stat}_ms"])
            assert math.isfinite(value) and value >= 0.0, (stage, stat)
    # the stages account for the step: together with "other" they make up its total
    parts = sum(float(row[f"{s}_mean_ms"]) for s in (*bench.STAGES, "other"))
    assert parts == pytest.approx(float(row["total_mean_ms"]), rel=0.02, abs=0.05)
    assert row["cpu_count"] and row["torch"] and row["cuda_device"]
    printed = capsys.readouterr().out
    assert "machine:" in printed and "vae_encode" in printed and "total" in printed

    # a second run appends a row under the same header
    assert bench.main(["--model", "tiny-sd", "--steps", "3", "--warmup", "0", "--device", "cpu",
                       "--csv", str(out)]) == 0
    header, rows = _rows(out)
    assert header == bench.COLUMNS and [r["model"] for r in rows] == ["tiny", "tiny-sd"]
    assert rows[1]["controlnets"] == "0"


def test_declared_scenarios_are_well_formed() -> None:
    names = [s.name for s in bench.SCENARIOS]
    assert len(names) == len(set(names))
    assert {"tiny-cpu", "tiny-sd-cpu", "sdxl-1024-controlnets-bf16", "sd15-512-bf16"} <= set(names)
    targets = {s.name: s.target_ms for s in bench.SCENARIOS}
    assert targets["sdxl-1024-controlnets-bf16"] == 100.0 and targets["sd15-512-bf16"] == 20.0


def test_bad_input_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--scenario", "no-such-scenario", "--no-csv"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
    assert bench.main(["--model", "tiny", "--random-weights", "--device", "cpu", "--no-csv"]) == 2
    assert "tiny model" in capsys.readouterr().err


def test_full_size_configs_build_the_published_sizes() -> None:
    """Parameter counts of the full-size architectures, on the meta device (no memory, no weights)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    with torch.device("meta"):
        sdxl = UNet2DConditionModel.from_config(cfgs.SDXL_UNET)
        sd15 = UNet2DConditionModel.from_config(cfgs.SD15_UNET)
        mid = ControlNetModel.from_config(cfgs.SDXL_CONTROLNET_MID)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    assert count(sdxl) == pytest.approx(2567.5, abs=1.0)  # SDXL base unet: 2.57 B
    assert count(sd15) == pytest.approx(859.5, abs=1.0)  # SD 1.5 unet: 860 M
    assert 200 < count(mid) < 400  # "mid" ControlNet: far below the full 1.25 B one


def test_csv_with_an_older_header_is_not_mixed(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n")
    written = append_csv(path, [{"a": 1, "b": 2, "c": 3.14159}], ["a", "b", "c"])
    assert written != path and path.read_text() == "a,b\n1,2\n"
    assert _rows(written) == (["a", "b", "c"], [{"a": "1", "b": "2", "c": "3.142"}])
    assert summarize([1.0, 2.0, 3.0, 4.0]) == {"median": 2.5, "p90": pytest.approx(3.7), "mean": 2.5, "min": 1.0,
                                               "max": 4.0}
    assert summarize([1.0, 2.0, 3.0, 4.0], (95,))["p95"] == pytest.approx(3.85)
    assert all(math.isnan(v) for v in summarize([]).values())
