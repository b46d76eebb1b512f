"""End-to-end tests of the ``dctwin`` command line.

Most run the commands in this process (Typer's CliRunner, :func:`tests.helpers.dctwin_in_process`);
the demo run goes through the real entry point in a subprocess, like a user would, and checks
that ``--json`` output is exactly one JSON object (nothing else, a solver's console output
included, reaches stdout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from tests.helpers import dctwin_in_process
from tests.processes import dctwin

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo-hall.yaml"
EDGE = REPO / "scenarios" / "edge-pod.yaml"
SUMMARY_KEYS = {
    "it_energy_kwh",
    "cooling_energy_kwh",
    "facility_energy_kwh",
    "pue",
    "max_inlet_temperature_c",
    "inlet_violations",
    "min_busbar_voltage_v",
    "power_chain_loss_kwh",
}


pytestmark = pytest.mark.xdist_group("cli")  # module fixtures built once


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The demo hall simulated once: its ``--json`` summary and its ``--out`` NetCDF file."""
    out = tmp_path_factory.mktemp("cli") / "run.nc"
    done = dctwin("simulate", DEMO, "--json", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout), out  # stdout is exactly one JSON object


def test_simulate_json_has_the_headline_figures(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    assert set(summary) >= SUMMARY_KEYS
    assert summary["racks"] == 36
    assert summary["steps"] == 7 * 96
    assert 1.05 < summary["pue"] < 2.0
    # 36 racks, 2.1 MW design IT: a week of it is between 100 and 350 MWh
    assert 100e3 < summary["it_energy_kwh"] < 350e3
    assert 0 < summary["cooling_energy_kwh"] < summary["it_energy_kwh"]
    assert 0 < summary["power_chain_loss_kwh"] < 0.2 * summary["it_energy_kwh"]
    assert 15.0 < summary["max_inlet_temperature_c"] <= summary["inlet_limit_c"]
    assert summary["inlet_violations"] == 0
    assert 46.0 < summary["min_busbar_voltage_v"] <= 51.0


def test_simulate_energy_balance(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    parts = (
        summary["it_energy_kwh"] + summary["cooling_energy_kwh"] + summary["power_chain_loss_kwh"]
    )
    assert summary["facility_energy_kwh"] == pytest.approx(parts, rel=0.005)
    assert summary["pue"] == pytest.approx(
        summary["facility_energy_kwh"] / summary["it_energy_kwh"], rel=1e-9
    )


def test_simulate_out_writes_cf_netcdf(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, path = demo_run
    assert path.is_file()
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.sizes["time"] == summary["steps"]
        assert ds.sizes["rack"] == summary["racks"]
        assert len(ds.data_vars) > 10
        for name, variable in ds.data_vars.items():
            assert variable.attrs.get("units") is not None, f"{name} has no units"
            assert variable.attrs.get("long_name"), f"{name} has no long_name"
        it_kwh = float(ds["it_power"].sum()) * summary["step_seconds"] / 3.6e6
        assert it_kwh == pytest.approx(summary["it_energy_kwh"], rel=1e-9)


def _in_memory_file(scenario: Path, out: Path, per_rack: bool = True) -> dict[str, Any]:
    """Simulate ``scenario`` with every series in memory, write it as ``--out`` did before it
    streamed (``write_netcdf``); its summary."""
    from physics.schedule import as_operated_schedule
    from physics.simulate import simulate, summarize
    from twin.cli.common import write_netcdf
    from twin.data.series import scenario_series
    from twin.scenario.compile import compile_facility
    from twin.scenario.loader import load_scenario

    spec = load_scenario(scenario)
    series = scenario_series(spec, scenario.parent)
    facility = compile_facility(spec)
    result = simulate(facility, as_operated_schedule(facility, series), series, per_rack=per_rack)
    write_netcdf(result, out)
    return summarize(result)


def _assert_same_file(streamed: Path, memory: Path) -> None:
    """The two files open as the same dataset: values bit for bit, dtypes, attributes."""
    with (
        xr.open_dataset(streamed, engine="h5netcdf") as a,
        xr.open_dataset(memory, engine="h5netcdf") as b,
    ):
        xr.testing.assert_identical(a.load(), b.load())
        for name in b.variables:
            assert a[name].dtype == b[name].dtype, name


def test_simulate_out_streams_the_in_memory_result(
    demo_run: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    """``--out`` writes the per-equipment series as they are simulated (window-chunked in the
    file), and the file is the in-memory result, bit for bit; the summary is the same."""
    summary, path = demo_run
    memory = tmp_path / "memory.nc"
    expected = _in_memory_file(DEMO, memory)
    _assert_same_file(path, memory)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        window = ds["inlet_temperature"].encoding["chunksizes"]
        assert window is not None and window[1] == summary["racks"]  # streamed by windows
        assert ds["pue"].encoding.get("chunksizes") is None  # appended from memory
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    for key, value in expected.items():
        assert summary[key] == value, key


def test_simulate_out_without_racks_and_unwritable_out(tmp_path: Path) -> None:
    """``--no-racks --out`` streams the remaining per-equipment series; a folder that cannot
    be created is one error line, exit 2."""
    out = tmp_path / "edge.nc"
    done = dctwin_in_process("simulate", EDGE, "--no-racks", "--out", out)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stderr
    memory = tmp_path / "memory.nc"
    _in_memory_file(EDGE, memory, per_rack=False)
    _assert_same_file(out, memory)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert "inlet_temperature" not in ds
        assert ds["crah_airflow"].encoding["chunksizes"] is not None
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    done = dctwin_in_process("simulate", EDGE, "--out", tmp_path / "a-file" / "run.nc")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot write" in done.stderr


def test_simulate_text_summary() -> None:
    done = dctwin_in_process("simulate", EDGE)
    assert done.returncode == 0, done.stderr
    assert "PUE" in done.stdout
    assert "violations            0" in done.stdout
    assert "simulating Edge pod (London): 12 racks × 672 steps" in done.stderr


def test_edge_pod_runs_clean() -> None:
    done = dctwin_in_process("simulate", EDGE, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["racks"] == 12
    assert summary["violations"] == []
    assert summary["inlet_violations"] == 0
    assert summary["clamped_curve_evaluations"] == 0
    assert 1.05 < summary["pue"] < 2.0
    average_it_kw = summary["it_energy_kwh"] / (summary["steps"] * summary["step_seconds"] / 3600)
    assert 10.0 < average_it_kw < 80.0
    assert summary["pv_energy_kwh"] > 0
    assert summary["grid_energy_kwh"] == pytest.approx(
        summary["facility_energy_kwh"] - summary["pv_energy_kwh"], rel=1e-6
    )


def test_schema_prints_json() -> None:
    done = dctwin_in_process("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["title"] == "dctwin scenario"
    assert "RackType" in schema["$defs"]
    assert schema["$defs"]["RackType"]["properties"]["design_power"]["x-unit"] == "kW"


def test_doctor_passes() -> None:
    done = dctwin_in_process("doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "toy LP" in done.stdout
    assert "FAIL" not in done.stdout


def test_bad_scenario_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace("timezone: America/Chicago", "timezone: America/Dalas")
    text = text.replace("design_power: 120 kW", "design_power: 5 kWh")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    done = dctwin_in_process("simulate", bad, "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert f"{bad}: 2 problem(s):" in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 2
    assert any(
        line.startswith("  - site.timezone: 'America/Dalas' — unknown IANA timezone")
        for line in lines
    )
    assert (
        "  - rack_types.gpu-120.design_power: '5 kWh' — '5 kWh' is an energy; expected a "
        "power in kW" in lines
    )


def test_malformed_yaml_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("site:\n  name: [unclosed\n", encoding="utf-8")
    done = dctwin_in_process("simulate", bad)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "malformed YAML at line 3, column 1" in done.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    done = dctwin_in_process("simulate", tmp_path / "absent.yaml")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot read file: No such file or directory" in done.stderr


def test_series_with_a_gap_exits_2(tmp_path: Path) -> None:
    """A scenario whose series file misses rows is refused with the missing times named."""
    lines = (REPO / "data" / "demo-week.csv").read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("time,"))
    assert lines[header + 1].startswith("2026-07-06T00:00")
    assert lines[header + 9].startswith("2026-07-06T02:00")
    (tmp_path / "week.csv").write_text(
        "\n".join(lines[: header + 9] + lines[header + 10 :]) + "\n", encoding="utf-8"
    )
    scenario = DEMO.read_text(encoding="utf-8").replace(
        "file: ../data/demo-week.csv", "file: week.csv"
    )
    (tmp_path / "hall.yaml").write_text(scenario, encoding="utf-8")
    done = dctwin_in_process("simulate", tmp_path / "hall.yaml")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "series[0]: week.csv: gaps in the" in done.stderr
    assert "missing 2026-07-06T02:00Z" in done.stderr
