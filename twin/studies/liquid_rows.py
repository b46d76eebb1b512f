"""Sizing rows of the liquid path, added to the co-planner's capacity rows.

:func:`optimizer.capacity.limit_rows` gives every sizing limit of the air path and power
chain as "value ≤ limit" rows; :func:`sizing_rows` adds the limits of the liquid path that
:data:`physics.violations.LIMIT_KINDS` defines: CDU coolant flow (L/min), cold-plate case
temperature per rack (°C) and the liquid class on the facility loop supply (°C).  The
capacity and contingency studies use these rows, so a rack that would push a CDU past its
pumps or a GPU past its case limit is neither admitted nor passed.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.capacity import REMEDY, LimitRow, limit_rows
from physics.facility import Facility
from physics.violations import LIMIT_KINDS

__all__ = ["LIQUID_REMEDY", "sizing_rows"]

LIQUID_REMEDY: dict[str, str] = {
    "cdu_flow": "CDU pump flow (a larger or another CDU)",
    "case_temperature": "cold-plate margin (cooler coolant supply or more flow per plate)",
    "facility_loop_supply": "facility loop heat rejection (dry cooler, tower or trim capacity)",
}
"""What relieves a binding liquid-path row (the capacity study's next step).  Registered in
:data:`optimizer.capacity.REMEDY`, which names the remedy of every row the model can bind;
that table belongs in the optimizer and these entries should move there."""

for _kind, _remedy in LIQUID_REMEDY.items():
    REMEDY.setdefault(_kind, _remedy)


def _row(kind: str, equipment: str, value: np.ndarray, limit: np.ndarray | float) -> LimitRow:
    values = np.where(np.isfinite(value), value, np.inf)
    limits = np.broadcast_to(np.asarray(limit, dtype=float), values.shape).copy()
    return LimitRow(kind, equipment, values, limits, LIMIT_KINDS[kind].symbol)


def sizing_rows(facility: Facility, ds: xr.Dataset) -> dict[tuple[str, str], LimitRow]:
    """Every sizing row: :func:`optimizer.capacity.limit_rows` and the liquid path's.

    Parameters
    ----------
    facility
        The facility simulated.
    ds
        Its simulation result with per-rack series.

    Returns
    -------
    dict
        ``(kind, equipment id)`` → row, values in the units of :data:`LIMIT_KINDS`.
    """
    rows = limit_rows(facility, ds)
    extra: list[LimitRow] = []
    cdus = facility.cdus
    if cdus.count:
        scale = LIMIT_KINDS["cdu_flow"].scale
        demand = ds["cdu_flow_demand"].values / scale
        rated = cdus.it_rated_flow / scale
        # A CDU none of whose racks states a flow shares its rated flow over them
        # (twin.scenario.compile): its demand is the rated flow by construction and says
        # nothing about the racks, so it is a row only when the demand differs (racks moved
        # onto it by a contingency, or stated flows).
        extra += [
            _row("cdu_flow", name, demand[:, c], cdus.max_flow[c] / scale)
            for c, name in enumerate(cdus.ids)
            if not np.allclose(demand[:, c], rated[c], rtol=1e-12, atol=0.0)
        ]
    if "case_temperature" in ds:
        case = ds["case_temperature"].values
        limit = facility.racks.max_case_temperature
        extra += [
            _row("case_temperature", name, case[:, r], limit[r])
            for r, name in enumerate(facility.racks.ids)
            if np.isfinite(limit[r])
        ]
    if "facility_loop_supply_temperature" in ds:
        extra.append(
            _row(
                "facility_loop_supply",
                "facility loop",
                ds["facility_loop_supply_temperature"].values,
                facility.facility_water_limit,
            )
        )
    return rows | {(row.kind, row.equipment): row for row in extra}
