"""Scenario sweeps: sweep files, overrides, the Zarr store, resume, failures, Dask, the CLI.

Every point is really compiled, simulated and planned with HiGHS (the demo hall over 6 h, so a
point takes well under a second); the Dask test runs a real ``LocalCluster`` of two worker
processes and must give the same dataset as the local process pool.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr

from tests.helpers import ROOT, dctwin_in_process, demo_hall_dict
from tests.processes import dctwin
from twin.studies.report import schedules_returned, summary_table
from twin.studies.sweep.runner import (
    TIMING_VARIABLES,
    PathError,
    SweepError,
    load_sweep,
    open_results,
    parse_only,
    prepare_store,
    result_variables,
    run_sweep,
    set_path,
    sweep_from_dict,
)

HORIZON = "6 h"
DUE_SOON = 6
"""Hours to the jobs' deadline where a test's points need not look past the horizon."""


def write_base(folder: Path, due_hours: int = 24) -> Path:
    """The demo hall over a day on generated series as a YAML file in ``folder``, its tier-3
    jobs due ``due_hours`` [h] after the start with their energies scaled to that.

    Due at 24 h a point's plan looks ahead from the 6 h horizon to the deadline (96 steps);
    due at :data:`DUE_SOON` it plans the 6 h only (24 steps, about half the CPU of a point):
    for the tests of resume, slices, Dask and the CLI, which read the bookkeeping, not the
    look-ahead.
    """
    data = demo_hall_dict(1)
    if due_hours != 24:
        for work in data["workloads"]:
            if work["tier"] == 3:
                energy = float(str(work["energy"]).split()[0]) * due_hours / 24
                work["deadline"], work["energy"] = f"{due_hours} h", f"{energy:g} kWh"
    path = folder / "hall.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_sweep(folder: Path, due_hours: int = 24, **extra: Any) -> Path:
    """A 4-point sweep (battery size × carbon price) of the demo hall over 6 h, its jobs due
    at ``due_hours`` (:func:`write_base`)."""
    write_base(folder, due_hours)
    spec: dict[str, Any] = {
        "base": "hall.yaml",
        "horizon": HORIZON,
        "grid": {"battery.energy": [1000, 3000], "grid.carbon_price": [0, 150]},
        "gpus_per_rack": {"gpu-120": 64},
    }
    spec.update(extra)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def results(path: Path) -> xr.Dataset:
    return open_results(path)


# --------------------------------------------------------------------------------------------
# sweep files and overrides


def test_grid_points_and_overrides(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path))
    assert sweep.size == 4
    assert sweep.fields == ["battery.energy", "grid.carbon_price"]
    assert sweep.points[3] == {"battery.energy": 3000, "grid.carbon_price": 150}
    data = sweep.scenario(3)
    assert data["battery"]["energy"] == 3000 and data["grid"]["carbon_price"] == 150
    assert data["simulation"]["duration"] == "21600 s"
    # the base is not modified by building a point
    assert sweep.base["battery"]["energy"] == demo_hall_dict(1)["battery"]["energy"]


def test_random_samples_are_reproducible_and_combine_with_the_grid(tmp_path: Path) -> None:
    random = {
        "samples": 3,
        "seed": 7,
        "fields": {
            "cooling.units[*].supply_temperature_max": {"uniform": [24, 27]},
            "grid.demand_charge": {"choice": [0, 3.5, 10]},
        },
    }
    a = load_sweep(write_sweep(tmp_path, random=random))
    b = load_sweep(tmp_path / "sweep.yaml")
    assert a.size == 4 * 3
    assert a.points == b.points and a.spec_hash == b.spec_hash
    values = [p["cooling.units[*].supply_temperature_max"] for p in a.points]
    assert all(24 <= v <= 27 for v in values) and len(set(values)) == 3
    assert {p["grid.demand_charge"] for p in a.points} <= {0, 3.5, 10}
    units = a.scenario(5)["cooling"]["units"]
    assert {u["supply_temperature_max"] for u in units} == {a.points[5][a.fields[2]]}


def test_set_path_selectors() -> None:
    data: dict[str, Any] = {"units": [{"id": "U1", "t": 1}, {"id": "U2", "t": 2}], "a": {"b": 1}}
    set_path(data, "units[id=U2].t", 5)
    set_path(data, "units[0].t", 4)
    set_path(data, "a.c", "new key")
    assert data == {
        "units": [{"id": "U1", "t": 4}, {"id": "U2", "t": 5}],
        "a": {"b": 1, "c": "new key"},
    }
    set_path(data, "units[*].t", 9)
    assert [u["t"] for u in data["units"]] == [9, 9]
    for bad, words in (
        ("units[7].t", "has 2 item(s)"),
        ("units[id=U9].t", "no item with id U9"),
        ("a.b.c", "not a mapping"),
        ("nothing.t", "no key 'nothing'"),
    ):
        with pytest.raises(PathError, match=words.replace("(", r"\(").replace(")", r"\)")):
            set_path(data, bad, 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"grid": {"battery.enrgy": [1, 2]}}, "battery.enrgy: no such field"),
        ({"grid": {"coling.units[0].airflow": [1]}}, "no key 'coling'"),
        ({"grid": {"cooling.units[9].airflow": [1]}}, "has 4 item(s), no [9]"),
        ({"grid": {"battery.energy": []}}, "grid.battery.energy"),
        ({"gird": {"battery.energy": [1]}}, "gird: unknown field"),
        ({"horizon": "7 min"}, "not a whole number of steps"),
        ({"base": "missing.yaml"}, "base: cannot read"),
        ({"gpus_per_rack": {"gpu-999": 8}}, "gpus_per_rack.gpu-999: no such rack type"),
        (
            {"random": {"samples": 2, "fields": {"grid.carbon_price": {"uniform": [5, 1]}}}},
            "uniform bounds must be ordered",
        ),
        (
            {"random": {"samples": 2, "fields": {"battery.energy": {"choice": [1]}}}},
            "more than once",
        ),
    ],
)
def test_bad_sweep_files_say_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = write_sweep(tmp_path)
    data = yaml.safe_load(path.read_text())
    data.update(change)
    with pytest.raises(SweepError) as info:
        sweep_from_dict(data, tmp_path, "sweep.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("sweep.yaml:")


def test_parse_only() -> None:
    assert parse_only("2:5", 10) == (2, 5)
    assert parse_only(":3", 10) == (0, 3)
    assert parse_only("8:", 10) == (8, 10)
    for bad in ("5:2", "0:11", "a:b", "3"):
        with pytest.raises(ValueError, match="--only"):
            parse_only(bad, 10)


# --------------------------------------------------------------------------------------------
# running, the store, resume


def test_store_has_cf_attrs_and_swept_coordinates(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path))
    prepare_store(sweep, tmp_path / "r.zarr", chunk_size=2)
    ds = results(tmp_path / "r.zarr")
    assert ds.sizes["scenario"] == 4 and not ds["done"].values.any()
    assert np.isnan(ds["cost"].values).all()
    for name in ds.variables:
        assert {"units", "long_name"} <= set(ds[name].attrs), name
    assert ds["battery_energy"].attrs["units"] == "kWh"
    assert ds["grid_carbon_price"].attrs["units"] == "USD/t CO2e"
    np.testing.assert_array_equal(ds["battery_energy"].values, [1000, 1000, 3000, 3000])
    assert ds["cost"].attrs["units"] == "USD"
    assert ds.attrs["spec_hash"] == sweep.spec_hash
    assert set(json.loads(ds.attrs["fields"]).values()) == set(sweep.fields)


def test_failed_point_is_recorded_and_the_others_finish(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, grid={"battery.energy": [1000, -5, "2 MWh"]}))
    seen: list[int] = []
    outcome = run_sweep(
        sweep, tmp_path / "r.zarr", workers=0, progress=lambda r, n, t: seen.append(n)
    )
    assert (outcome.computed, outcome.failed, outcome.skipped) == (3, 1, 0)
    assert seen == [1, 2, 3]
    ds = results(tmp_path / "r.zarr")
    assert ds["done"].values.tolist() == [1, 1, 1]
    status = ds["status"].values.astype(str)
    assert status[1] == "error" and status[0] != "error" and status[2] != "error"
    assert "battery.energy" in str(ds["error"].values[1]) and "-5" in str(ds["error"].values[1])
    assert np.isnan(ds["cost"].values[1]) and np.isfinite(ds["cost"].values[[0, 2]]).all()
    # a resume leaves the failed point alone unless asked to retry it
    assert run_sweep(sweep, tmp_path / "r.zarr", workers=0).computed == 0
    retried = run_sweep(sweep, tmp_path / "r.zarr", workers=0, retry_failed=True)
    assert (retried.computed, retried.failed, retried.skipped) == (1, 1, 2)
    ds = results(tmp_path / "r.zarr")
    assert str(ds["run_id"].values[1]) == retried.run_id != str(ds["run_id"].values[0])
    # mixed numbers and strings: the coordinate keeps the values as written
    assert ds["battery_energy"].values.astype(str).tolist() == ["1000", "-5", "2 MWh"]
    # the verified plan's figures are physical
    ok = ds.isel(scenario=[0, 2])
    assert (ok["verified"] == 1).all() and (ok["violations"] == 0).all()
    assert ((ok["pue"] > 1.0) & (ok["pue"] < 2.0)).all()
    parts = ok["it_energy_kwh"] + ok["cooling_energy_kwh"] + ok["power_chain_loss_kwh"]
    np.testing.assert_allclose(parts + ok["other_energy_kwh"], ok["facility_energy_kwh"], rtol=1e-9)
    assert (ok["cost"] <= ok["as_operated_cost"] * (1 + 1e-6)).all()
    # figures cover the look-ahead: the 6 h window stretched to the jobs' deadline (1 day)
    assert (ok["committed_hours"] == 6).all() and (ok["lookahead_hours"] == 24).all()
    assert (ok["gpu_hours"] == 16 * 64 * 24).all()
    for tier in (1, 2, 3):
        assert ((ok[f"sla_tier{tier}"] >= 0) & (ok[f"sla_tier{tier}"] <= 1)).all()


def test_interrupted_sweep_resumes_without_recomputing(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, DUE_SOON))
    out = tmp_path / "r.zarr"

    def interrupt_after_three(record: dict[str, Any], finished: int, total: int) -> None:
        if finished == 3:
            raise KeyboardInterrupt

    # one chunk of 4: the 3 finished points are flushed although their chunk is incomplete
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, workers=0, chunk_size=4, progress=interrupt_after_three)
    first = results(out)
    assert first["done"].values.tolist() == [1, 1, 1, 0]
    before = {v: first[v].values[:3].astype(str).tolist() for v in ("run_id", "computed_at")}

    outcome = run_sweep(sweep, out, workers=0)
    assert (outcome.skipped, outcome.computed, outcome.failed) == (3, 1, 0)
    second = results(out)
    assert second["done"].values.tolist() == [1, 1, 1, 1]
    for name, values in before.items():  # untouched: same run, same finishing time
        assert second[name].values[:3].astype(str).tolist() == values
    assert str(second["run_id"].values[3]) == outcome.run_id != before["run_id"][0]

    again = run_sweep(sweep, out, workers=0)
    assert (again.skipped, again.computed) == (4, 0)


def test_only_runs_a_slice_and_a_changed_sweep_is_refused(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, DUE_SOON)
    sweep = load_sweep(path)
    out = tmp_path / "r.zarr"
    outcome = run_sweep(sweep, out, workers=0, only=(1, 3), chunk_size=2)
    assert (outcome.selected, outcome.computed) == (2, 2)
    assert results(out)["done"].values.tolist() == [0, 1, 1, 0]
    changed = yaml.safe_load(path.read_text())
    changed["grid"]["grid.carbon_price"] = [0, 100]
    other = sweep_from_dict(changed, tmp_path, "changed.yaml")
    with pytest.raises(SweepError, match="holds a different sweep"):
        run_sweep(other, out, workers=0)
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(SweepError, match="not a sweep result store"):
        run_sweep(sweep, tmp_path / "junk.zarr", workers=0)


def _comparable(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars(list(TIMING_VARIABLES))


@pytest.mark.slow
def test_dask_local_cluster_equals_local_pool(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("dask.distributed")
    sweep = load_sweep(write_sweep(tmp_path, DUE_SOON))
    local = run_sweep(sweep, tmp_path / "local.zarr", workers=2, chunk_size=2)
    assert (local.computed, local.failed) == (4, 0)
    # Two real worker processes, forked by the fork server the local pool has just started
    # (its preloaded imports are shared) instead of spawned interpreters importing them again.
    method = {"distributed.worker.multiprocessing-method": "forkserver"}
    with (
        dask.config.set(method),
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
    ):
        remote = run_sweep(
            sweep, tmp_path / "dask.zarr", scheduler=cluster.scheduler_address, chunk_size=2
        )
    assert (remote.computed, remote.failed) == (4, 0)
    a, b = results(tmp_path / "local.zarr"), results(tmp_path / "dask.zarr")
    xr.testing.assert_identical(_comparable(a).drop_attrs(), _comparable(b).drop_attrs())
    assert a.attrs["spec_hash"] == b.attrs["spec_hash"]
    # both ran in worker processes, not in this one
    me = f":{os.getpid()}"
    for ds in (a, b):
        workers = set(ds["worker"].values.astype(str))
        assert workers and not any(w.endswith(me) for w in workers)
    assert not set(a["worker"].values.astype(str)) & set(b["worker"].values.astype(str))


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, grid={"battery.energy": [1000]}))
    with pytest.raises(
        SweepError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        run_sweep(sweep, tmp_path / "r.zarr", scheduler="tcp://127.0.0.1:9", connect_timeout=1)


def test_every_result_variable_is_named_once() -> None:
    names = [v.name for v in result_variables()]
    assert len(names) == len(set(names))
    assert set(TIMING_VARIABLES) <= set(names)


# --------------------------------------------------------------------------------------------
# the CLI


def test_cli_sweep_end_to_end_with_progress_and_resume(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, DUE_SOON, grid={"battery.energy": [1000, 3000]})
    out = tmp_path / "r.zarr"
    done = dctwin_in_process("sweep", path, "--out", out, "--workers", "0", "--only", "0:1")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["computed"], summary["points"], summary["failed"]) == (1, 2, 0)
    assert "1/1" in done.stderr and "point" in done.stderr  # the tqdm bar
    # a real process: its stdout holds nothing but the JSON summary (no solver output)
    resumed = dctwin("sweep", path, "--out", out, "--workers", "0")
    assert resumed.returncode == 0, resumed.stderr
    assert (json.loads(resumed.stdout)["skipped"], json.loads(resumed.stdout)["computed"]) == (1, 1)
    assert results(out)["done"].values.tolist() == [1, 1]


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"battery.enrgy": [1]})
    bad = dctwin_in_process("sweep", path, "--out", tmp_path / "r.zarr")
    assert bad.returncode == 2
    assert "battery.enrgy: no such field" in bad.stderr and "Traceback" not in bad.stderr
    good = write_sweep(tmp_path)
    only = dctwin_in_process("sweep", good, "--out", tmp_path / "r.zarr", "--only", "3:9")
    assert only.returncode == 2 and "--only" in only.stderr and "Traceback" not in only.stderr
    missing = dctwin_in_process("sweep", tmp_path / "nope.yaml", "--out", tmp_path / "r.zarr")
    assert missing.returncode == 2 and "cannot read file" in missing.stderr


def test_cli_export_jobs_and_dry_run(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    jobs = tmp_path / "jobs"
    done = dctwin_in_process(
        "sweep", path, "--out", tmp_path / "r.zarr", "--export-jobs", jobs, "--chunk-size", "3"
    )
    assert done.returncode == 0, done.stderr
    scripts = sorted(jobs.glob("job-*.sh"))
    assert [s.name for s in scripts] == ["job-00000.sh", "job-00001.sh"]
    text = scripts[1].read_text()
    assert text.startswith("#!/bin/bash\n#SBATCH") and "--only 3:4" in text
    assert os.access(scripts[0], os.X_OK)
    store = results(tmp_path / "r.zarr")  # created up front with the jobs' chunking
    assert store["done"].encoding["chunks"] == (3,) and not store["done"].values.any()
    listed = dctwin_in_process("sweep", path, "--dry-run")
    assert listed.returncode == 0
    points = [json.loads(line) for line in listed.stdout.splitlines()]
    assert points[2] == {"scenario": 2, "battery.energy": 3000, "grid.carbon_price": 0}


def test_example_sweep_file_is_valid() -> None:
    sweep = load_sweep(ROOT / "scenarios" / "sweeps" / "demo.yaml")
    assert sweep.size >= 8
    data = sweep.scenario(0)
    assert data["simulation"]["duration"] == "86400 s"


def test_local_pool_workers_are_forked_from_a_preloaded_server() -> None:
    """Where the platform has it, the pool's workers are forks of one fork server that has
    imported what a point needs (a misspelt module would be skipped silently by it)."""
    import importlib
    from multiprocessing import get_all_start_methods

    from twin.studies.sweep.points import evaluate_point
    from twin.studies.sweep.runner import _PRELOAD, _pool_context

    if "forkserver" not in get_all_start_methods():
        assert _pool_context().get_start_method() == "spawn"
        return
    assert _pool_context().get_start_method() == "forkserver"
    assert evaluate_point.__module__ in _PRELOAD
    for name in _PRELOAD:
        importlib.import_module(name)


def test_a_store_made_before_plan_source_was_recorded_still_resumes(tmp_path: Path) -> None:
    """Sweeps record which schedule each plan returned (``plan_source``); a store prepared
    before they did (no such variable) resumes without it, and its report says so."""
    sweep = load_sweep(write_sweep(tmp_path, DUE_SOON))
    out = tmp_path / "r.zarr"
    first = run_sweep(sweep, out, workers=0, only=(0, 1))
    assert first.computed == 1
    assert str(results(out)["plan_source"].values[0]) in ("co_plan", "rule_based")
    group = zarr.open_group(str(out), mode="a")
    del group["plan_source"]
    with warnings.catch_warnings():  # the store is consolidated as prepare_store does
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
        zarr.consolidate_metadata(str(out))
    assert "plan_source" not in results(out)
    resumed = run_sweep(sweep, out, workers=0, only=(1, 2))
    assert resumed.computed == 1
    ds = results(out)
    assert ds["done"].values.tolist()[:2] == [1, 1] and "plan_source" not in ds
    table, _ = summary_table(ds)
    assert schedules_returned(table["plan_source"]) == "not recorded 2"
