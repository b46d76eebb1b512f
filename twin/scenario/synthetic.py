"""Synthetic halls of any size for benchmarks, sweeps and tests.

``synthetic_hall(racks)`` returns a scenario dict shaped like the demo hall (pairs of
liquid-cooled GPU rows and air-cooled inference rows, Open Rack V3 busbars in every rack),
with cooling, power and plant sized to the IT load so that it runs without violations as
operated.
"""

from __future__ import annotations

import math
from typing import Any

ROW_LENGTH = 20

MECHANICAL_FEED = "F-MECH"
"""The utility feed of the cooling (chillers, towers, pumps, fans).  The cooling grows with the
hall, so it has its own feed: on the first IT feed (fixed at ten rows' UPS) it broke that feed
as operated from about 3,000 racks on (70 MW on 44 MW), and left no headroom at 1,000."""

MECHANICAL_FEED_SHARE = 0.5
"""Capacity of :data:`MECHANICAL_FEED` per kW of design IT power [-]: the cooling as operated
peaks at about 0.2 kW per kW of design IT at 300 to 3,000 racks, 0.23 with every GPU rack at
full power (simulated), so about twice that."""


def synthetic_hall(
    racks: int,
    *,
    days: float = 1.0,
    step: str = "15 min",
    start: str = "2026-07-06T00:00:00Z",
    gpu_share: float = 0.5,
) -> dict[str, Any]:
    """A scenario dict with ``racks`` racks in rows of 20.

    Parameters
    ----------
    racks
        Number of racks (rounded up to whole rows of 20).
    days
        Simulated duration [d].
    step
        Time step, e.g. ``"15 min"``.
    start
        First instant (ISO 8601 with offset).
    gpu_share
        Fraction of rows that are 120 kW liquid-cooled GPU rows [-].

    Returns
    -------
    dict
        Validatable with :func:`twin.scenario.loader.scenario_from_dict`; series are generated.
    """
    rows = max(1, math.ceil(racks / ROW_LENGTH))
    row_specs, units, cdus, it_kw = _rows(racks, rows, round(rows * gpu_share))
    workloads: list[dict[str, Any]] = [
        {"id": "inference", "tier": 1, "racks": ["*"], "profile": "cpu_load"},
    ]
    return {
        "version": 1,
        "site": {"name": f"Synthetic hall ({racks} racks)", "timezone": "UTC"},
        "simulation": {"start": start, "duration": f"{days} d", "step": step},
        "rack_types": _rack_types(),
        "rows": row_specs,
        "cooling": _cooling(units, cdus, it_kw),
        "power": _power(rows, it_kw),
        "workloads": workloads,
        "grid": {"contract_capacity": it_kw * 1.6},
        "series": [{"generate": "demo"}],
    }


def _rows(
    racks: int, rows: int, gpu_rows: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], float]:
    """Rows of racks, their cooling units and CDUs, and the design IT power [kW].

    The first ``gpu_rows`` rows are liquid-cooled GPU rows (one CDU per pair of rows), the
    others air-cooled inference rows; each row has its own CRAH sized to its air-side heat.
    """
    row_specs = []
    units, cdus = [], []
    it_kw = 0.0
    for r in range(rows):
        name = f"R{r:03d}"
        gpu = r < gpu_rows
        count = min(ROW_LENGTH, racks - r * ROW_LENGTH)
        rack_kw = 120.0 if gpu else 40.0
        it_kw += count * rack_kw
        air_kw = count * (rack_kw * (0.03 + 0.97 * 0.15) if gpu else rack_kw)
        airflow = air_kw * 1e3 / (1211.3 * (15.0 if gpu else 12.0)) / 0.85 * 1.15
        units.append(
            {
                "id": f"CRAH-{name}",
                "airflow": round(airflow, 2),
                "fan_power": round(airflow * 0.65, 2),
                "capacity": round(air_kw * 1.4, 1),
                "supply_temperature": 18.0,
            }
        )
        spec: dict[str, Any] = {
            "row": name,
            "type": "gpu-120" if gpu else "inference-40",
            "count": count,
            "cooling_unit": f"CRAH-{name}",
            "busbar_template": "orv3-gpu" if gpu else "orv3-air",
            "ups": f"UPS-{r // 10}",
        }
        if gpu:
            spec["cdu"] = f"CDU-{r // 2}"
            if r % 2 == 0:
                cdus.append(
                    {"id": f"CDU-{r // 2}", "capacity": 2 * ROW_LENGTH * 110.0, "pump_power": 20}
                )
        row_specs.append(spec)
    return row_specs, units, cdus, it_kw


def _rack_types() -> dict[str, Any]:
    """The two rack types: a 120 kW liquid-cooled GPU rack and a 40 kW air-cooled one."""
    return {
        "gpu-120": {
            "design_power": 120,
            "idle_fraction": 0.25,
            "liquid_share": 0.85,
            "design_delta_t": 15,
            "fan_fraction": 0.03,
            "taps": 8,
            "bbu_energy": 3.6,
            "bbu_power": 132,
        },
        "inference-40": {
            "design_power": 40,
            "idle_fraction": 0.35,
            "design_delta_t": 12,
            "fan_fraction": 0.08,
            "taps": 8,
            "bbu_energy": 1.4,
            "bbu_power": 48,
        },
    }


def _cooling(
    units: list[dict[str, Any]], cdus: list[dict[str, Any]], it_kw: float
) -> dict[str, Any]:
    """The cooling section: the rows' units and CDUs, and N+1 chillers sized to ``it_kw`` [kW]."""
    chillers = min(30, math.ceil(it_kw * 1.15 / 2000.0)) + 1  # schema allows 50
    chiller_kw = math.ceil(it_kw * 1.15 / (chillers - 1))
    return {
        "units": units,
        "cdus": cdus,
        "feed": MECHANICAL_FEED,
        "recirculation": {"mode": "layout"},
        "plant": {
            "chillers": {"count": chillers, "redundancy": 1, "capacity": chiller_kw},
            "tower_fan_power": 0.015 * it_kw,
            "chilled_water_pump_power": 0.015 * it_kw,
            "condenser_pump_power": 0.02 * it_kw,
        },
    }


def _power(rows: int, it_kw: float) -> dict[str, Any]:
    """The power section: one feed and UPS per 10 rows, the mechanical feed of the cooling
    (:data:`MECHANICAL_FEED`, sized to ``it_kw`` [kW]), Open Rack V3 busbar templates."""
    ups_count = math.ceil(rows / 10)
    ups_kw = 10 * ROW_LENGTH * 120.0 * 1.15
    feeds = [{"id": f"F{i}", "capacity": ups_kw * 1.6} for i in range(ups_count)]
    feeds.append({"id": MECHANICAL_FEED, "capacity": MECHANICAL_FEED_SHARE * it_kw})
    return {
        "feeds": feeds,
        "ups": [{"id": f"UPS-{i}", "feed": f"F{i}", "rating": ups_kw} for i in range(ups_count)],
        "busbar_templates": {
            "orv3-gpu": {
                "resistance": 0.15,
                "ampacity": 3000,
                "shelf": {"psu_rating": 5.5, "psu_count": 30, "redundancy": 3},
            },
            "orv3-air": {
                "resistance": 0.3,
                "ampacity": 1200,
                "shelf": {"psu_rating": 5.5, "psu_count": 10, "redundancy": 1},
            },
        },
    }
