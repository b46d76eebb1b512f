"""Capacity planning: the MIP's answer against brute force over every set of added racks.

The small hall (``scenarios/small-hall.yaml``) has few enough free positions that every subset
can be simulated: the largest subset that breaks no limit must have exactly the size the
optimizer found, and the limit it names as binding must be one that the brute force's sets of
one rack more actually break.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import yaml

from optimizer.capacity import CapacityModel, maximize_racks, next_step
from physics.violations import find_violations
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import load_scenario, scenario_from_dict
from twin.scenario.schema import Scenario
from twin.studies.capacity import capacity_study
from twin.studies.positions import (
    ADDED_WORKLOAD,
    Candidate,
    CapacityError,
    candidate_positions,
    parse_positions,
    simulate_scenario,
    with_racks,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small-hall.yaml"


@pytest.fixture(scope="module")
def small() -> tuple[Scenario, xr.Dataset]:
    scenario = load_scenario(SMALL)
    return scenario, scenario_series(scenario, SMALL.parent)


def _broken(
    scenario: Scenario, series: xr.Dataset, rack_type: str, chosen: list[Candidate]
) -> set[tuple[str, str]]:
    """(kind, equipment) of every limit the simulation with ``chosen`` added breaks."""
    facility, ds = simulate_scenario(with_racks(scenario, rack_type, chosen), series)
    return {
        (v.kind, e)
        for v in find_violations(facility, ds)
        if v.kind != "demand_response"
        for e in v.equipment
    }


def _brute_force(
    scenario: Scenario, series: xr.Dataset, rack_type: str, candidates: list[Candidate]
) -> tuple[int, dict[frozenset[str], set[tuple[str, str]]]]:
    """Largest clean subset size, and what every subset of one rack more breaks."""
    broken: dict[frozenset[str], set[tuple[str, str]]] = {}
    best = 0
    for size in range(len(candidates) + 1):
        for subset in itertools.combinations(candidates, size):
            found = _broken(scenario, series, rack_type, list(subset))
            broken[frozenset(c.rack_id for c in subset)] = found
            if not found:
                best = max(best, size)
    return best, broken


@pytest.mark.parametrize(
    ("rack_type", "positions"),
    [("gpu-120", None), ("inference-40", "A:4,A:5,A:6,B:7,B:8,B:9")],
)
def test_capacity_matches_brute_force(
    small: tuple[Scenario, xr.Dataset], rack_type: str, positions: str | None
) -> None:
    scenario, series = small
    wanted = parse_positions(positions) if positions else None
    candidates, _ = candidate_positions(scenario, rack_type, wanted)
    report = capacity_study(scenario, series, rack_type, wanted)
    best, broken = _brute_force(scenario, series, rack_type, candidates)

    assert report.verified
    assert report.count == best
    assert 0 < best < len(candidates)  # the hall is sized so that something binds
    assert broken[frozenset(report.added)] == set()
    # every set of one rack more breaks something; the named binding limit is among them
    bigger = [found for ids, found in broken.items() if len(ids) == best + 1]
    assert bigger and all(bigger)
    binding = (report.binding[0].kind, report.binding[0].equipment)
    assert binding in set().union(*bigger)
    # the optimizer's own n+1 set is simulated and breaks exactly that limit
    assert binding in broken[frozenset(report.next_added)]
    assert report.violations_next
    assert report.binding[0].extra > 0


def test_gpu_rack_is_limited_by_the_crah_coil(small: tuple[Scenario, xr.Dataset]) -> None:
    scenario, series = small
    report = capacity_study(scenario, series, "gpu-120")
    assert report.count == 3
    first = report.binding[0]
    assert (first.kind, first.equipment, first.unit) == ("coil_capacity", "CRAH-1", "kW")
    # the relief is what the n+1 simulation exceeds the coil by (linearization within 1 %)
    facility, ds = simulate_scenario(
        with_racks(
            scenario,
            "gpu-120",
            [
                c
                for c in candidate_positions(scenario, "gpu-120")[0]
                if c.rack_id in report.next_added
            ],
        ),
        series,
    )
    unit = facility.units.ids.index("CRAH-1")
    excess = float(ds["crah_cooling_load"].values[:, unit].max()) / 1e3 - 175.0
    assert first.extra == pytest.approx(excess, rel=0.01)


def test_no_position_left_and_excluded_racks(small: tuple[Scenario, xr.Dataset]) -> None:
    scenario, series = small
    one = capacity_study(scenario, series, "gpu-120", [("A", 4)])
    assert one.count == 1 and one.no_position_left and not one.binding
    # a 200 kW rack on its own ORv3 busbar overloads the 148.5 kW N+k shelf by itself
    data = yaml.safe_load(SMALL.read_text())
    data["rack_types"]["gpu-200"] = dict(data["rack_types"]["gpu-120"], design_power="200 kW")
    big = scenario_from_dict(data)
    report = capacity_study(big, series, "gpu-200", [("A", 4), ("A", 5)])
    assert report.count == 0
    assert set(report.excluded) == {"A04", "A05"}
    assert "power shelf" in report.excluded["A04"]
    assert report.no_position_left  # nothing can be added anywhere


def test_added_racks_keep_existing_workloads(small: tuple[Scenario, xr.Dataset]) -> None:
    scenario, _ = small
    candidates, skipped = candidate_positions(scenario, "gpu-120")
    assert [c.rack_id for c in candidates] == ["A04", "A05", "A06", "A07"]
    assert all(c.own_busbar is not None and c.cdu == "CDU-1" for c in candidates)
    assert len(skipped) == 4 and "no CDU" in skipped[0]  # row B is air-cooled only
    air, _ = candidate_positions(scenario, "inference-40", [("B", 7)])
    assert air[0].busbar == "BB-B" and air[0].own_busbar is None and air[0].cdu is None
    facility = compile_facility(with_racks(scenario, "gpu-120", candidates[:2]))
    work = facility.workloads
    training = work.ids.index("training")
    added = work.ids.index(ADDED_WORKLOAD)
    shares = work.share.toarray()
    new = [facility.racks.ids.index(i) for i in ("A04", "A05")]
    assert np.all(shares[training, new] == 0)  # "A*" does not catch the new racks
    assert shares[added, new].sum() == pytest.approx(1.0)
    assert work.utilization[added] == 1.0


def test_bad_positions() -> None:
    scenario = load_scenario(SMALL)
    with pytest.raises(CapacityError, match="occupied"):
        candidate_positions(scenario, "gpu-120", [("A", 2)])
    with pytest.raises(CapacityError, match="no row 'Z'"):
        candidate_positions(scenario, "gpu-120", [("Z", 1)])
    with pytest.raises(CapacityError, match="unknown rack type"):
        candidate_positions(scenario, "gpu-999")
    with pytest.raises(CapacityError, match="ROW:POSITION"):
        parse_positions("A9")
    with pytest.raises(CapacityError, match="no free position"):
        candidate_positions(scenario, "gpu-120", [("B", 7)])  # row B has no CDU
    assert parse_positions(" A:9, B:10 ") == [("A", 9), ("B", 10)]


def _model(**kw: Any) -> CapacityModel:
    weights = np.array([[3.0, 4.0, 5.0, 6.0], [1.0, 0.0, 2.0, 1.0]])
    base = dict(
        keys=[("coil_capacity", "u", 0), ("feed_capacity", "f", 0)],
        base=np.array([1.0, 0.0]),
        coefficients=weights,
        limit=np.array([10.0, 2.5]),
        owner=np.array([-1, -1]),
        allowed=np.ones(4, dtype=bool),
        units=["kW", "kW"],
    )
    base.update(kw)
    return CapacityModel(**base)  # type: ignore[arg-type]


def test_mip_against_enumeration() -> None:
    model = _model()
    best = max(
        sum(x)
        for x in itertools.product((0, 1), repeat=4)
        if np.all(model.base + model.coefficients @ np.array(x, float) <= model.limit + 1e-9)
    )
    solution = maximize_racks(model)
    assert solution.count == best == 2
    step = next_step(model, 3)
    assert step.feasible and step.chosen.sum() == 3
    # cheapest relative relief: {0,1,2} needs +3 kW of u and +0.5 kW of f (3/10 + 0.5/2.5);
    # {0,1,3}: +4 u; {1,2,3}: +6 u, +0.5 f; {0,2,3}: +5 u, +1.5 f  → {0,1,3} (0.4 relative)
    assert list(np.flatnonzero(step.chosen)) == [0, 1, 3]
    assert [(r.equipment, round(r.extra, 6)) for r in step.reliefs] == [("u", 4.0)]
    # a row owned by candidate 3 (its own equipment) holds only when it is added
    owned = _model(
        keys=[("coil_capacity", "u", 0), ("shelf_capacity", "own", 0)],
        base=np.array([1.0, 0.0]),
        coefficients=np.array([[3.0, 4.0, 5.0, 6.0], [0.0, 0.0, 0.0, 9.0]]),
        limit=np.array([10.0, 5.0]),
    )
    assert not maximize_racks(owned).chosen[3]
    assert not next_step(_model(allowed=np.array([True, False, False, False])), 2).feasible


def test_a_limit_broken_today_may_not_get_worse(small: tuple[Scenario, xr.Dataset]) -> None:
    _, series = small
    data = yaml.safe_load(SMALL.read_text())
    data["grid"]["contract_capacity"] = "700 kW"  # today's peak import is ~737 kW
    scenario = scenario_from_dict(data)
    report = capacity_study(scenario, series, "gpu-120", [("A", 4), ("A", 5)])
    assert report.pre_existing == ["grid import (contract): grid"]
    assert report.count == 0 and report.verified
    first = report.binding[0]
    assert (first.kind, first.equipment) == ("contract_capacity", "grid")
    assert first.extra > 100  # one 120 kW rack adds its power and its cooling at the peak


def test_verify_loop_corrects_an_optimistic_linearization(
    small: tuple[Scenario, xr.Dataset],
) -> None:
    # a long shared busbar: its I²R loss grows with the square of the current, so the sum of
    # single-rack changes underestimates several racks and the first answer breaks the shelf
    _, series = small
    data = yaml.safe_load(SMALL.read_text())
    bus = data["power"]["busbars"][0]
    bus.update(resistance="1 mOhm", ampacity="20000 A", undervoltage_limit="30 V")
    bus["shelf"].update(psu_count=200, psu_rating=f"{452 / 196:.5f} kW")
    data["cooling"]["units"][1].update(airflow="60 m^3/s", capacity="900 kW")
    scenario = scenario_from_dict(data)
    positions = [("B", k) for k in range(7, 13)]
    report = capacity_study(scenario, series, "inference-40", positions)
    assert report.iterations == 2 and report.verified
    candidates, _ = candidate_positions(scenario, "inference-40", positions)
    best, broken = _brute_force(scenario, series, "inference-40", candidates)
    assert report.count == best
    assert report.binding[0].kind == "shelf_capacity"
    assert all(
        ("shelf_capacity", "BB-B") in found for ids, found in broken.items() if len(ids) > best
    )
