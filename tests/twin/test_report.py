"""Sweep reports: summary.csv, PNG charts and a self-contained report.html from a real sweep.

The sweep behind them is real (3 points of the demo hall over 6 h, one with an invalid battery,
each planned with HiGHS and verified); the figures are checked against the dataset and against
each other (PUE parts add up, per-GPU-hour figures divide, savings match the baselines).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from tests.helpers import dctwin_in_process, demo_hall_dict
from twin.studies.report import ReportError, load_results, summary_table, write_report
from twin.studies.sweep.runner import load_sweep, run_sweep

pytestmark = pytest.mark.xdist_group("report")  # module fixtures built once


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-point sweep store (point 1 failed, point 3 not computed)."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "hall.yaml").write_text(yaml.safe_dump(demo_hall_dict(1)), encoding="utf-8")
    spec = {
        "base": "hall.yaml",
        "horizon": "6 h",
        "grid": {"battery.energy": [1000, -1, 3000, 4000]},
        "set": {
            "grid.demand_response": [
                {
                    "start": "2026-07-06T03:00:00Z",
                    "end": "2026-07-06T04:00:00Z",
                    "import_cap": "2500 kW",
                }
            ]
        },
        "gpus_per_rack": {"gpu-120": 64, "inference-40": 32},
    }
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    sweep = load_sweep(folder / "sweep.yaml")
    run_sweep(sweep, folder / "results.zarr", workers=0, only=(0, 3))
    return folder / "results.zarr"


def test_summary_figures_are_consistent(sweep_result: Path) -> None:
    ds = load_results(sweep_result)
    table, units = summary_table(ds)
    assert table["scenario"].tolist() == [0, 1, 2]  # point 3 not computed: left out
    assert table["status"].tolist()[1] == "error" and "battery.energy" in table["error"][1]
    assert table["plan_source"].tolist()[1] == ""  # a failed point returned no schedule
    ok = table[table["status"] != "error"]
    assert set(ok["plan_source"]) <= {"co_plan", "rule_based"} and len(ok) == 2
    np.testing.assert_allclose(ok["cost_per_gpu_hour"], ok["cost"] / ok["gpu_hours"])
    # every figure covers the look-ahead: the 6 h window stretched to the jobs' deadlines
    assert (ok["committed_hours"] == 6.0).all() and (ok["lookahead_hours"] > 6.0).all()
    np.testing.assert_allclose(ok["gpu_hours"], (16 * 64 + 10 * 32) * ok["lookahead_hours"])
    np.testing.assert_allclose(
        1 + ok["pue_cooling"] + ok["pue_power_chain"] + ok["pue_other"], ok["pue"], rtol=1e-9
    )
    saving = (ok["as_operated_cost"] - ok["cost"]) / ok["as_operated_cost"]
    np.testing.assert_allclose(ok["saving_cost_vs_as_operated"], saving)
    assert (ok["saving_cost_vs_as_operated"] >= -1e-9).all()  # the plan never costs more
    assert (ok["dr_hours"] == 1.0).all()
    assert (ok["dr_max_excess_kw"] <= 1e-6).all()  # the verified plan meets the DR cap
    assert (ok["gpu_utilization"].between(0, 1)).all()
    assert units["cost"] == "USD" and units["battery.energy"] == "kWh"
    assert units["cost_per_gpu_hour"] == "USD/GPU-h"


def test_write_report_files(sweep_result: Path, tmp_path: Path) -> None:
    files = write_report(load_results(sweep_result), tmp_path / "out")
    csv = pd.read_csv(files.csv)
    assert len(csv) == 3
    assert "cost_per_gpu_hour [USD/GPU-h]" in csv.columns
    assert "sla_tier3 [1]" in csv.columns and "battery.energy [kWh]" in csv.columns
    assert any("1 of 4 points not computed" in n for n in files.notes)
    page = files.html.read_text(encoding="utf-8")
    assert "Key figures" in page and "cost per GPU-hour" in page
    returned = ", ".join(f"{k} {v}" for k, v in csv["plan_source"].value_counts().items())
    assert f"<th class='t'>schedule returned</th><td>{returned}</td>" in page
    assert "src='http" not in page and "<script" not in page  # self-contained
    pytest.importorskip("PIL")
    names = {p.stem for p in files.plots}
    assert {
        "cost_per_gpu_hour",
        "carbon_per_gpu_hour",
        "pue_breakdown",
        "sla_attainment",
        "peak_import",
        "savings",
        "demand_response",
    } <= names
    from PIL import Image

    for plot in files.plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(plot) as img:
            assert img.size == (960, 480)
            # not a blank canvas: bars in colour
            assert len(img.convert("RGB").getcolors(maxcolors=100_000) or []) > 10
    assert page.count("data:image/png;base64,") == len(files.plots)


def test_load_results_refuses_what_is_not_a_sweep(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such file"):
        load_results(tmp_path / "missing.zarr")
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("t", [1.0])}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(ReportError, match="not a sweep result"):
        load_results(other)
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ReportError, match="not a readable sweep result"):
        load_results(tmp_path / "empty.zarr")


def test_cli_report(sweep_result: Path, tmp_path: Path) -> None:
    done = dctwin_in_process("report", sweep_result, "--out", tmp_path / "rep")
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert Path(written["html"]).exists() and Path(written["csv"]).exists()
    assert "not computed yet" in done.stderr
    bad = dctwin_in_process("report", tmp_path / "nothing.zarr")
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_charts_are_labelled_by_swept_value_and_the_page_fits_a_screen(
    sweep_result: Path, tmp_path: Path
) -> None:
    import warnings

    from twin.studies.report import charts, point_labels, screen_table

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consolidated metadata: no warning from a plain open
        xr.open_zarr(sweep_result).close()
    table, units = summary_table(load_results(sweep_result))
    labels, caption = point_labels(table, units)
    assert labels == ["1,000", "-1", "3,000"] and caption == "battery.energy [kWh]"
    made, _ = charts(table, units)
    assert made and all(c.x_label == caption for c in made)
    assert all(c.labels == ["1,000", "3,000"] for c in made)  # the failed point has no bars
    shown = screen_table(table)
    assert list(shown.columns[:2]) == ["scenario", "battery.energy"]
    assert shown.shape[1] <= 13 < table.shape[1]
    page = write_report(load_results(sweep_result), tmp_path / "out").html.read_text("utf-8")
    assert "<a href='summary.csv'>summary.csv</a>" in page
    header = page.split("<h2>All points</h2>", 1)[1].split("</tr>", 1)[0]
    assert header.count("<th>") == shown.shape[1]
