"""N-1 contingency: each loss against a direct simulation of the same failure written as a
scenario, and the CRAH-trip transient against the analytic lumped model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

from physics.constants import AIR_VOLUMETRIC_HEAT_CAPACITY, JOULES_PER_KWH
from physics.facility import Facility
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from physics.violations import find_violations
from tests.helpers import facility_and_series, small_hall_dict
from twin.studies.contingency import (
    AIR_VOLUME_PER_RACK,
    RACK_HEAT_CAPACITY,
    ContingencyReport,
    ElementResult,
    contingency_study,
    zone_heat_up_time,
    zone_time_to_limit,
)
from twin.studies.liquid_rows import sizing_rows

pytestmark = pytest.mark.xdist_group("contingency")  # module fixtures built once


@pytest.fixture(scope="module")
def study() -> tuple[Facility, xr.Dataset, ContingencyReport]:
    facility, series = facility_and_series(small_hall_dict())
    return facility, series, contingency_study(facility, series)


def _element(report: ContingencyReport, name: str) -> ElementResult:
    return next(e for e in report.elements if e.element == name)


def _direct(data: dict[str, Any]) -> tuple[Facility, xr.Dataset]:
    facility, series = facility_and_series(data)
    return facility, simulate(facility, as_operated_schedule(facility, series), series)


BUSBAR_LEVEL = ("shelf_capacity", "busbar_current", "undervoltage")


def _margins(facility: Facility, ds: xr.Dataset, busbar: str | None = None) -> dict[str, float]:
    """Smallest limit − value per kind (busbar-level kinds of ``busbar`` only, if given)."""
    out: dict[str, float] = {}
    for (kind, equipment), row in sizing_rows(facility, ds).items():
        if busbar is not None and kind in BUSBAR_LEVEL and equipment != busbar:
            continue
        out[kind] = min(out.get(kind, np.inf), float(np.min(row.limit - row.value)))
    return out


def test_every_element_is_studied(study: tuple[Facility, xr.Dataset, ContingencyReport]) -> None:
    _, _, report = study
    names = [e.element for e in report.elements]
    assert names == [
        "CRAH-1",
        "CRAH-2",
        "chiller-1",
        "chiller-2",
        "CDU-1",
        "CDU-2",
        "feed A",
        "feed B",
        "shelf BB-B",
        "shelf A01",
        "shelf A02",
        "shelf A03",
    ]
    assert report.baseline_violations == []
    assert set(report.failed) == {"CRAH-1", "CRAH-2"}


def test_crah_loss_matches_direct_simulation(
    study: tuple[Facility, xr.Dataset, ContingencyReport],
) -> None:
    _, _, report = study
    result = _element(report, "CRAH-2")
    # the same failure as a scenario: row B on CRAH-1, CRAH-2's fan off
    data = small_hall_dict()
    data["rows"][1]["cooling_unit"] = "CRAH-1"
    data["cooling"]["units"][1]["fan_power"] = 0
    facility, ds = _direct(data)
    assert result.max_inlet == pytest.approx(float(ds["max_inlet_temperature"].max()), abs=1e-9)
    direct = _margins(facility, ds)
    assert result.margins == pytest.approx(direct, abs=1e-6)
    assert result.margins["airflow"] < 0 and result.margins["coil_capacity"] < 0
    expected = {v.message for v in find_violations(facility, ds) if v.kind != "demand_response"}
    steady = [v for v in result.violations if "takeover" not in v]
    assert set(steady) == expected
    assert not result.passed


def test_cdu_chiller_and_shelf_losses_match_direct_simulation(
    study: tuple[Facility, xr.Dataset, ContingencyReport],
) -> None:
    _, _, report = study
    data = small_hall_dict()
    data["rows"][0]["cdu"] = "CDU-2"
    data["cooling"]["cdus"][0]["pump_power"] = 0
    cdu = _element(report, "CDU-1")
    assert cdu.passed and cdu.margins == pytest.approx(_margins(*_direct(data)), abs=1e-6)

    data = small_hall_dict()
    data["cooling"]["plant"]["chillers"].update(count=1, redundancy=0)
    chiller = _element(report, "chiller-1")
    assert chiller.margins == pytest.approx(_margins(*_direct(data)), abs=1e-6)

    data = small_hall_dict()
    data["power"]["busbars"][0]["shelf"].update(psu_count=55, redundancy=3)
    direct = _margins(*_direct(data))
    own = _margins(*_direct(data), busbar="BB-B")
    shelf = _element(report, "shelf BB-B")  # batch: every shelf one PSU down at once
    for kind, margin in shelf.margins.items():
        if kind in BUSBAR_LEVEL:
            assert margin == pytest.approx(own[kind], abs=1e-6)  # its own busbar: exact
        else:
            assert margin <= own[kind] + 1e-6  # shared limits: conservative
    facility, series = facility_and_series(small_hall_dict())
    exact = contingency_study(facility, series, kinds=("power_shelf",), exact_shelves=True)
    assert _element(exact, "shelf BB-B").margins == pytest.approx(direct, abs=1e-6)
    assert [e.passed for e in exact.elements] == [
        e.passed for e in report.elements if e.kind == "power_shelf"
    ]


def test_single_cdu_loss_fails() -> None:
    data = small_hall_dict()
    data["cooling"]["cdus"] = data["cooling"]["cdus"][:1]
    facility, series = facility_and_series(data)
    report = contingency_study(facility, series, kinds=("cdu",))
    assert [e.element for e in report.elements] == ["CDU-1"]
    assert not report.elements[0].passed
    assert "no other CDU" in report.elements[0].violations[0]


def test_feed_loss_ride_through_and_transfer(
    study: tuple[Facility, xr.Dataset, ContingencyReport],
) -> None:
    facility, series, report = study
    ds = simulate(facility, as_operated_schedule(facility, series), series)
    result = _element(report, "feed A")
    # racks behind feed A: row A (UPS-A); BBU 3.6 kWh carrying the rack's highest power
    row_a = [i for i, rid in enumerate(facility.racks.ids) if rid.startswith("A")]
    peak = float(ds["rack_power"].values[:, row_a].max())
    assert result.transient["ride_through_s"] == pytest.approx(3.6 * JOULES_PER_KWH / peak)
    assert result.passed
    data = small_hall_dict()
    data["power"]["ups"][0]["feed"] = "B"  # and cooling and battery (on the first feed)
    data["cooling"]["feed"] = "B"
    data["battery"]["feed"] = "B"
    assert result.margins == pytest.approx(_margins(*_direct(data)), abs=1e-6)
    strict = contingency_study(facility, series, transfer_time=300.0, kinds=("feed",))
    assert not strict.elements[0].passed
    assert "ride-through" in strict.elements[0].violations[-1]


def test_crah_trip_transient_against_the_two_node_model(
    study: tuple[Facility, xr.Dataset, ContingencyReport],
) -> None:
    facility, series, report = study
    # analytic: C·dT/dt = Q integrated numerically crosses at C·ΔT/Q
    capacitance = 3 * (AIR_VOLUMETRIC_HEAT_CAPACITY * AIR_VOLUME_PER_RACK + RACK_HEAT_CAPACITY)
    heat, start, limit = 63e3, 21.0, 27.0
    dt, temperature, elapsed = 0.01, start, 0.0
    while temperature < limit:
        temperature += heat / capacitance * dt
        elapsed += dt
    assert zone_heat_up_time(start, limit, heat, 3) == pytest.approx(elapsed, abs=2 * dt)
    assert zone_heat_up_time(28.0, limit, heat, 3) == 0.0
    assert zone_heat_up_time(start, limit, 0.0, 3) == np.inf
    # the study's figure: the two-node transient of the zone of CRAH-1 (row A) from its
    # worst step, checked against the two nodes integrated numerically
    ds = simulate(facility, as_operated_schedule(facility, series), series)
    times = zone_time_to_limit(facility, ds, 0)
    result = _element(report, "CRAH-1")
    assert result.transient["time_to_inlet_limit_s"] == pytest.approx(float(times.min()))
    worst = int(np.argmin(times))
    racks, zone = facility.racks, np.flatnonzero(facility.racks.unit == 0)
    inlet = ds["inlet_temperature"].values[worst]
    heat = float(
        ((ds["outlet_temperature"].values[worst] - inlet) * racks.capacity_flow)[zone].sum()
    )
    air = (
        AIR_VOLUMETRIC_HEAT_CAPACITY
        * facility.room_air_volume
        * (facility.units.airflow[0] / facility.units.airflow.sum())
    )
    mass, conductance = (
        float(racks.heat_capacity[zone].sum()),
        float(racks.capacity_flow[zone].sum()),
    )
    # every rack of the zone takes all its supply air from CRAH-1 (weight 1, no supply mixing)
    needed = float((facility.inlet_limit - inlet[zone]).min())

    def nodes(_t: float, y: np.ndarray) -> list[float]:
        return [(heat - conductance * (y[0] - y[1])) / air, conductance * (y[0] - y[1]) / mass]

    crossing = solve_ivp(
        nodes, (0.0, 600.0), [0.0, 0.0], events=lambda _t, y: y[0] - needed, rtol=1e-10,
        atol=1e-12,
    )  # fmt: skip
    assert float(times.min()) == pytest.approx(float(crossing.t_events[0][0]), rel=1e-6)
    # 8 m³ of air per rack (the default) and 21 kW of air heat per rack: seconds, not minutes
    assert 1.0 < float(times.min()) < 10.0
    assert not result.passed and "before the 60 s takeover" in result.violations[-1]
    relaxed = contingency_study(facility, series, crah_response_time=1.0, kinds=("cooling_unit",))
    assert relaxed.elements[0].passed  # CRAH-2 picks up row A within its capacity


def test_report_is_json_ready(study: tuple[Facility, xr.Dataset, ContingencyReport]) -> None:
    import json

    _, _, report = study
    data = json.loads(json.dumps(report.to_dict()))
    assert data["elements"] == 12 and data["failed"] == ["CRAH-1", "CRAH-2"]
    assert data["results"][0]["transient"]["response_time_s"] == 60.0
