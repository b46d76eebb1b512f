"""What one plan hands to the next: work done, battery charge, the billing peak, setpoints.

A plan that starts mid-week must know what happened before it: how much of each job's energy
is already delivered, the battery's state of charge, the highest grid import so far in the
current billing period (the demand charge is billed on it) and the setpoints in force (ramp
limits start there).  :class:`PlanState` carries these from one plan to the next; the CLI
reads and writes it as JSON (``dctwin plan --state state.json --write-state next.json``)
and the live twin keeps it between re-plans.

>>> state = PlanState.from_json({"time": "2026-07-08T00:00:00Z", "battery_soc": 0.62})
>>> state.battery_soc
0.62
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from physics.constants import JOULES_PER_KWH
from physics.facility import Facility

STATE_VERSION = 1
"""Version of the JSON form of :class:`PlanState`."""


class StateError(ValueError):
    """A plan state that cannot be used (malformed, or not fitting the facility)."""


@dataclass(frozen=True)
class PlanState:
    """The state of the facility at the start of a plan.

    Attributes
    ----------
    time
        The instant the state describes, timezone-aware (UTC when written).
    job_energy_done
        Tier-3 energy already delivered, by workload id [kWh].
    battery_soc
        Facility battery state of charge [-]; None: the scenario's initial SOC.
    peak_so_far_kw
        Highest grid import so far in the billing period ``billing_period`` [kW].
    billing_period
        The billing period ``peak_so_far_kw`` belongs to (``"2026-07"`` for a month, in the
        site's timezone); a plan in another period starts from a peak of 0 kW.
    supply_temperature
        Supply air setpoint in force per cooling unit id [°C]; None: unknown (no ramp limit
        into the first period).
    chilled_water_temperature
        Chilled-water setpoint in force [°C]; None: unknown.
    """

    time: datetime | None = None
    job_energy_done: dict[str, float] = field(default_factory=dict)
    battery_soc: float | None = None
    peak_so_far_kw: float = 0.0
    billing_period: str | None = None
    supply_temperature: dict[str, float] | None = None
    chilled_water_temperature: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``version`` 1), times in UTC ISO 8601."""
        return {
            "version": STATE_VERSION,
            "time": None if self.time is None else self.time.astimezone(UTC).isoformat(),
            "job_energy_done_kwh": {k: round(v, 6) for k, v in self.job_energy_done.items()},
            "battery_soc": self.battery_soc,
            "peak_so_far_kw": round(self.peak_so_far_kw, 6),
            "billing_period": self.billing_period,
            "supply_temperature_c": self.supply_temperature,
            "chilled_water_temperature_c": self.chilled_water_temperature,
        }

    @classmethod
    def from_json(cls, data: Any) -> PlanState:
        """Read the JSON form; every problem is a :class:`StateError` naming the field."""
        if not isinstance(data, dict):
            raise StateError("a plan state is a JSON object")
        known = {
            "version",
            "time",
            "job_energy_done_kwh",
            "battery_soc",
            "peak_so_far_kw",
            "billing_period",
            "supply_temperature_c",
            "chilled_water_temperature_c",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateError(
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        version = data.get("version", STATE_VERSION)
        if version != STATE_VERSION:
            raise StateError(f"version: {version!r}, expected {STATE_VERSION}")
        return cls(
            time=_time(data.get("time")),
            job_energy_done=_numbers(data.get("job_energy_done_kwh"), "job_energy_done_kwh", 0.0),
            battery_soc=_number(data.get("battery_soc"), "battery_soc", 0.0, 1.0),
            peak_so_far_kw=_number(data.get("peak_so_far_kw"), "peak_so_far_kw", 0.0) or 0.0,
            billing_period=_text(data.get("billing_period"), "billing_period"),
            supply_temperature=(
                None
                if data.get("supply_temperature_c") is None
                else _numbers(data.get("supply_temperature_c"), "supply_temperature_c", -50.0)
            ),
            chilled_water_temperature=_number(
                data.get("chilled_water_temperature_c"), "chilled_water_temperature_c", -50.0
            ),
        )

    def check(self, facility: Facility) -> None:
        """Raise :class:`StateError` when the state names jobs or units the facility lacks."""
        work = facility.workloads
        jobs = {work.ids[j] for j in np.flatnonzero(work.tier == 3)}
        unknown = sorted(set(self.job_energy_done) - jobs)
        if unknown:
            raise StateError(
                f"job_energy_done_kwh: unknown tier-3 job(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(jobs)) or 'none'})"
            )
        if self.supply_temperature is not None:
            missing = sorted(set(facility.units.ids) - set(self.supply_temperature))
            extra = sorted(set(self.supply_temperature) - set(facility.units.ids))
            if missing or extra:
                raise StateError(
                    "supply_temperature_c: needs exactly the cooling units "
                    f"{', '.join(facility.units.ids)} (missing: {', '.join(missing) or '-'}; "
                    f"unknown: {', '.join(extra) or '-'})"
                )
        if self.battery_soc is not None and facility.battery is not None:
            low, high = facility.battery.soc_min, facility.battery.soc_max
            if not low - 1e-9 <= self.battery_soc <= high + 1e-9:
                raise StateError(
                    f"battery_soc: {self.battery_soc:g} is outside the battery's window "
                    f"{low:g}..{high:g}"
                )

    def restricted_to(self, facility: Facility) -> PlanState:
        """The state as far as it fits ``facility`` (a modified scenario): work done of the
        tier-3 jobs it has, setpoints only if it has the same cooling units."""
        work = facility.workloads
        jobs = {work.ids[j] for j in np.flatnonzero(work.tier == 3)}
        supply = self.supply_temperature
        if supply is not None and set(supply) != set(facility.units.ids):
            supply = None
        soc = self.battery_soc
        if soc is not None and facility.battery is not None:
            soc = min(max(soc, facility.battery.soc_min), facility.battery.soc_max)
        return dataclasses.replace(
            self,
            job_energy_done={k: v for k, v in self.job_energy_done.items() if k in jobs},
            supply_temperature=supply,
            battery_soc=soc,
        )

    def done_by_index(self, facility: Facility) -> dict[int, float]:
        """``job_energy_done`` by workload index [kWh]."""
        ids = facility.workloads.ids
        return {ids.index(name): value for name, value in self.job_energy_done.items()}


def apply_state(facility: Facility, state: PlanState | None) -> Facility:
    """The facility as a plan starting from ``state`` sees it: each tier-3 job's energy is
    what is left to do [J] and the battery starts at the state's SOC.

    Every part of a plan (model, baselines, verification, contracts) uses this facility, so
    they all start from the same state.
    """
    if state is None:
        return facility
    state.check(facility)
    work = facility.workloads
    energy = work.energy.copy()
    for j, done in state.done_by_index(facility).items():
        energy[j] = max(float(energy[j]) - done * JOULES_PER_KWH, 0.0)
    changes: dict[str, Any] = {"workloads": dataclasses.replace(work, energy=energy)}
    if state.battery_soc is not None and facility.battery is not None:
        changes["battery"] = dataclasses.replace(facility.battery, initial_soc=state.battery_soc)
    return dataclasses.replace(facility, **changes)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise StateError("time: expected an ISO 8601 text with a timezone")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StateError(f"time: {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise StateError(f"time: {value!r} has no timezone (add Z or +hh:mm)")
    return moment.astimezone(UTC)


def _number(value: Any, name: str, low: float, high: float = math.inf) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"{name}: {value!r} is not a finite number")
    if not low <= value <= high:
        raise StateError(f"{name}: {value:g} is outside {low:g}..{high:g}")
    return float(value)


def _numbers(value: Any, name: str, low: float) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StateError(f"{name}: expected an object of numbers by id")
    out: dict[str, float] = {}
    for key, number in value.items():
        checked = _number(number, f"{name}.{key}", low)
        if checked is not None:
            out[str(key)] = checked
    return out


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise StateError(f"{name}: expected a text such as '2026-07'")
    return value
