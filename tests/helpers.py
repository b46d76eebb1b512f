"""Builders shared by the tests: scenarios, a controllable clock, a live twin, an API client.

Import them by package name, like the other test helpers (``from tests.helpers import
Clock, live_twin``); pytest runs from the repository root, so ``tests`` is importable.

Scenarios
    :func:`demo_hall_dict` (the demo hall on generated series, any number of days),
    :func:`demo_hall_due_today` (the demo hall file with its jobs due within a day of a live
    twin's clock at 12:00 UTC: re-plans of a day, not of the demo week), :func:`small_hall_dict`,
    :func:`facility_and_series` (compile a scenario dict and build its series) and
    :func:`demo_hall_as_operated` (the demo hall simulated as operated, with its point
    catalogue).
Live twin
    :class:`Clock` (time that moves only when a test moves it, from :data:`START`),
    :func:`live_twin` (the demo hall's live twin on a SQLite file, optionally fed by its
    virtual plant) and :func:`feed` (plant readings :data:`TICK` apart, processed).
API
    :func:`token_registry`, :func:`api_app` and :func:`api_client` (FastAPI's TestClient on
    the service of a live twin, no background threads).
Command line
    :func:`dctwin_in_process` (``dctwin ARGS`` through Typer's CliRunner, in this process;
    :func:`tests.processes.dctwin` runs the real entry point in a subprocess).
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from optimizer.baselines import as_operated
from physics.facility import Facility
from physics.simulate import simulate
from twin.api.app import create_app
from twin.api.security import TokenRegistry
from twin.cli import app as cli_app
from twin.data.series import scenario_series
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.live.virtual_plant import VirtualPlant
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.points import PointCatalogue
from twin.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
"""The repository root."""
SCENARIOS = ROOT / "scenarios"
DEMO_HALL = SCENARIOS / "demo-hall.yaml"
SMALL_HALL = SCENARIOS / "small-hall.yaml"

START = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
"""Where a test's :class:`Clock` starts."""
TICK = timedelta(seconds=30)
"""Interval of the virtual plant's readings in :func:`feed`."""


# --------------------------------------------------------------------------------------------
# scenarios


def with_warm_chiller(facility: Facility) -> Facility:
    """``facility`` with a *hypothetical* chiller: the McQuay curves with their leaving
    chilled-water limit raised to the plant's upper bound [°C].

    The shipped records are fitted up to 12.78 °C, and the plan keeps the chilled water
    there wherever the chillers run (:mod:`optimizer.curve_range`).  The cases that test how
    the planner trades a warmer supply for warmer chilled water need a chiller that allows it:
    a test of the planner's setpoint logic, not of the physics.
    """
    chiller = facility.plant.chiller
    high = facility.chilled_water_temperature_bounds[1]
    warm = dataclasses.replace(
        chiller,
        capft=dataclasses.replace(chiller.capft, x_max=high),
        eirft=dataclasses.replace(chiller.eirft, x_max=high),
    )
    return dataclasses.replace(facility, plant=dataclasses.replace(facility.plant, chiller=warm))


def demo_hall_dict(days: int = 1) -> dict[str, Any]:
    """The demo hall scenario as a dict, on generated demo series for ``days`` days.

    Both jobs are released at the start and due at the end, with energies scaled to the
    window as in the demo week (10 MWh a day of pre-training on row A, whose 8 racks can take
    about 16.7 MWh a day; 8 MWh a day of fine-tuning on row B): hard contracts that fit.
    """
    data = yaml.safe_load(DEMO_HALL.read_text())
    data["simulation"]["duration"] = f"{days} d"
    data["series"] = [{"generate": "demo"}]
    per_day = {"llm-pretraining": 10_000, "finetune-batch": 8_000}
    for work in data["workloads"]:
        if work["tier"] == 3:
            work["release"], work["deadline"] = "0 h", f"{days} d"
            work["energy"] = f"{per_day.get(work['id'], 5_000) * days} kWh"
    data["grid"]["demand_response"] = []
    return data


def demo_hall_due_today() -> dict[str, Any]:
    """``scenarios/demo-hall.yaml`` as a dict, with its two tier-3 jobs due within a day of a
    live twin's clock standing at 12:00 UTC (:data:`START`, or any day at noon).

    The live window starts at 00:00 UTC the day before the clock, so the clock stands 36 h
    into it.  Pre-training (row A) is released at the window's start and due 60 h into it
    (24 h after the clock), fine-tuning (row B) released at 24 h and due at 54 h; 12 and 8 MWh,
    which the rows can deliver from the clock on (they have about 17 MWh a day each).  A
    re-plan then looks ahead over its committed 24 h only (96 steps) instead of to the demo's
    deadlines days ahead (432 steps from :data:`START`): the same re-plan, verification,
    preview, approval and watch with both jobs active, at about a third of the CPU.  The rest
    of the file (hall, plant, grid with its demand-response event that evening, series) is
    unchanged.
    """
    data: dict[str, Any] = yaml.safe_load(DEMO_HALL.read_text())
    due = {
        "llm-pretraining": ("0 h", "60 h", "12000 kWh"),
        "finetune-batch": ("1 d", "54 h", "8000 kWh"),
    }
    for work in data["workloads"]:
        if work["id"] in due:
            work["release"], work["deadline"], work["energy"] = due[work["id"]]
    return data


def small_hall_dict() -> dict[str, Any]:
    """``scenarios/small-hall.yaml`` as a dict, as it is."""
    data: dict[str, Any] = yaml.safe_load(SMALL_HALL.read_text())
    return data


def facility_and_series(data: dict[str, Any]) -> tuple[Facility, xr.Dataset]:
    """(facility, series) of a scenario dict whose series files are under ``scenarios/``."""
    scenario = scenario_from_dict(data)
    return compile_facility(scenario), scenario_series(scenario, SCENARIOS)


@dataclass
class SimulatedHall:
    """The demo hall simulated as operated: the model's prediction of every point."""

    facility: Facility
    series: xr.Dataset
    result: xr.Dataset
    catalogue: PointCatalogue
    times: list[datetime]
    """Step times, UTC."""


def demo_hall_as_operated(days: int) -> SimulatedHall:
    """The demo hall on generated series over ``days`` days, simulated as operated."""
    facility, series = facility_and_series(demo_hall_dict(days))
    result = simulate(facility, as_operated(facility, series), series)
    times = list(pd.DatetimeIndex(result["time"].values).tz_localize("UTC").to_pydatetime())
    return SimulatedHall(facility, series, result, PointCatalogue(facility), times)


# --------------------------------------------------------------------------------------------
# live twin


@dataclass
class Clock:
    """A clock for the live twin that moves only when the test sets :attr:`now`."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def live_twin(
    folder: Path,
    clock: Callable[[], datetime] | None = None,
    *,
    virtual_plant: bool = False,
    database: str = "twin.db",
    busy_timeout: float | None = None,
    staging_rows: int | None = None,
    url: str | None = None,
    scenario: Mapping[str, Any] | None = None,
    **settings: Any,
) -> LiveTwin:
    """The live twin of the demo hall (or ``scenario``) on a SQLite store ``folder / database``.

    Parameters
    ----------
    folder
        Folder of the SQLite file.
    clock
        The twin's clock (default: the wall clock).
    virtual_plant
        Attach the demo's virtual plant (with its demo faults).
    database
        Name of the SQLite file.
    busy_timeout
        The store's lock budget [s] (default: the store's).
    staging_rows
        The store's SQLite staging buffer [rows] (default: the store's).
    url
        Another store (a PostgreSQL database) instead of the SQLite file.
    scenario
        The scenario as a dict, its series files under ``scenarios/`` (default: the demo hall
        file; e.g. :func:`demo_hall_due_today`).
    settings
        :class:`twin.live.live_twin.LiveSettings` fields; ``replan_minutes`` is 0 unless given
        (no re-plan timer).
    """
    store_options: dict[str, Any] = {} if busy_timeout is None else {"busy_timeout": busy_timeout}
    if staging_rows is not None:
        store_options["staging_rows"] = staging_rows
    store = Store(url or f"sqlite:///{folder / database}", **store_options)
    options = LiveSettings(**{"replan_minutes": 0, **settings})
    data = yaml.safe_load(DEMO_HALL.read_text()) if scenario is None else dict(scenario)
    if clock is None:
        return LiveTwin(data, DEMO_HALL.parent, store, options, virtual_plant=virtual_plant)
    return LiveTwin(
        data, DEMO_HALL.parent, store, options, virtual_plant=virtual_plant, clock=clock
    )


def change_hidden_truth(twin: LiveTwin, **changes: float) -> None:
    """From now the twin's virtual plant behaves with its hidden truth changed (e.g.
    ``recirculation_scale=3.0``, ``plant_power_factor=1.14``); the twin is not told.  Same
    seed and sensors, no sensor faults, the schedule in force kept."""
    assert twin.plant is not None, "the twin has no virtual plant"
    truth = dataclasses.replace(twin.plant.truth, **changes)
    twin.plant = VirtualPlant(
        twin.facility,
        twin.series,
        truth,
        seed=0,
        faults=[],
        sensors=twin.plant.sensors,
        schedule=twin.plant.schedule,
    )


def feed(twin: LiveTwin, clock: Clock, ticks: int) -> int:
    """``ticks`` virtual-plant readings :data:`TICK` apart, processed; returns the readings
    inserted."""
    inserted = 0
    for _ in range(ticks):
        result = twin.plant_tick()
        assert result is not None, "the twin has no virtual plant"
        inserted += result.inserted
        twin.drain()
        clock.now += TICK
    return inserted


# --------------------------------------------------------------------------------------------
# API


def critical_alarm_on_a_moved_rack(
    twin: LiveTwin, preview: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A critical inlet alarm (30.5 °C measured, 27 °C limit) raised in ``twin``'s store on the
    first rack a plan's ``preview`` moves; the rack's name and the alarm's record."""
    from twin.live.control.watch import moved_points

    points = moved_points(preview, twin.facility, twin.catalogue)
    rack = next(p.split("/")[1] for p in points if p.startswith("rack/"))
    message = f"rack inlet temperature of {rack} 30.50 °C (measured) above its 27.00 °C limit"
    return rack, critical_inlet_alarm(twin, rack, message)


def critical_inlet_alarm(twin: LiveTwin, rack: str, message: str = "too hot") -> dict[str, Any]:
    """A critical ``limit_inlet_temperature_high`` alarm on ``rack``'s inlet point, raised in
    ``twin``'s store at the twin's time; the alarm's record."""
    point = f"rack/{rack}/inlet_temperature"
    return dict(
        twin.store.raise_alarm(
            "limit_inlet_temperature_high",
            point,
            message,
            time=twin.clock(),
            severity="critical",
            point=point,
        )
    )


def token_registry(scopes: Mapping[str, str]) -> TokenRegistry:
    """Tokens from ``{token: "scope,scope"}`` (the ``DCTWIN_TOKENS`` format)."""
    return TokenRegistry.from_spec(";".join(f"{token}={scope}" for token, scope in scopes.items()))


def api_app(twin: LiveTwin, scopes: Mapping[str, str], **options: Any) -> FastAPI:
    """The service of ``twin`` with the tokens ``{token: "scope,scope"}`` and no background
    threads; ``options`` go to :func:`twin.api.app.create_app`."""
    return create_app(twin, token_registry(scopes), start_background=False, **options)


@contextmanager
def api_client(twin: LiveTwin, scopes: Mapping[str, str], **options: Any) -> Iterator[TestClient]:
    """FastAPI's TestClient on :func:`api_app` (started and stopped around the block)."""
    with TestClient(api_app(twin, scopes, **options)) as client:
        yield client


# --------------------------------------------------------------------------------------------
# command line


def dctwin_in_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``dctwin ARGS`` in this process (Typer's CliRunner on :data:`twin.cli.app`) and
    return it as a finished process: exit code, stdout and stderr apart.

    Faster than :func:`tests.processes.dctwin` (no interpreter start, imports done once) and
    with the same result for everything but output written below Python (a solver's own
    console output): keep the subprocess for tests of stdout purity.  An exception the CLI does
    not handle propagates (fails the test) instead of becoming exit code 1.
    """
    arguments = [str(arg) for arg in args]
    result = CliRunner().invoke(cli_app, arguments, catch_exceptions=False)
    return subprocess.CompletedProcess(
        ["dctwin", *arguments], result.exit_code, result.stdout, result.stderr
    )
