"""The limits the live twin watches, from the physics' one limit table, per piece of equipment.

:data:`WATCHED_LIMITS` names, for each limit alarm, the :class:`~physics.violations.LimitKind`
of :data:`physics.violations.LIMIT_KINDS` it watches (its description, unit, variable and
limit source), the side, the point that measures it (when the hall has one) and where the
estimate comes from when no healthy reading is fresh:

* ``limit_inlet_temperature_high`` / ``_low`` — ``inlet_temperature`` upper / lower (below),
  measured by ``rack/<rack>/inlet_temperature``, estimate ``inlet``;
* ``limit_undervoltage`` — ``undervoltage`` lower, ``busbar/<busbar>/voltage``, ``model``;
* ``limit_feed_capacity`` — ``feed_capacity`` upper, ``feed/<feed>/power``, ``model``;
* ``limit_ups_rating`` — ``ups_rating`` upper, no point (source ``ups/<ups>/output``),
  ``model``;
* ``limit_shelf_capacity`` — ``shelf_capacity`` upper, no point (source
  ``busbar/<busbar>/shelf_output``), ``model``;
* ``limit_coolant_supply`` — ``coolant_supply`` upper, ``cdu/<cdu>/supply_temperature``,
  ``model``;
* ``limit_contract_capacity`` — ``contract_capacity`` upper, ``grid/power``, ``model``;
* ``limit_battery_soc_low`` / ``_high`` — :data:`BATTERY_SOC` lower / upper,
  ``battery/soc``, estimate ``soc``.

The lower rack inlet limit is the physics' ``Facility.inlet_lower_limit`` (the minimum of
the facility's ASHRAE envelope, or ``site.min_inlet_temperature``: 18 °C for the recommended
envelope).  One limit is not in the physics' table, which holds what a *plan* must respect:
the battery's state-of-charge window
(:data:`BATTERY_SOC`, a :class:`~physics.violations.LimitKind` over ``battery.soc_min`` and
``battery.soc_max``: the physics clips the SOC there, so a plan cannot break it, but a real
battery can).  Estimates: ``inlet`` is the state estimator's rack inlet (virtual sensors
included), ``soc`` its battery SOC, ``model`` the calibrated model at the current step.

Severity bands per unit (:class:`AlarmBand`, :data:`DEFAULT_BANDS`): *warning* when the margin
to the limit is below ``warning``, *critical* when the value is beyond the limit by more than
``tolerance``; a level is left only once the margin exceeds its threshold by ``hysteresis``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility
from physics.violations import LIMIT_KINDS, LimitKind, LimitSource, limit_values

__all__ = [
    "BATTERY_SOC",
    "DEFAULT_BANDS",
    "WATCHED_LIMITS",
    "AlarmBand",
    "LimitEntries",
    "WatchedLimit",
    "resolve_limits",
]

FloatArray = NDArray[np.float64]

Estimate = Literal["inlet", "soc", "model"]
"""Where a limit's value comes from without a fresh healthy reading."""


BATTERY_SOC = LimitKind(
    "battery_soc",
    "battery state of charge",
    "1",
    "battery_soc",
    ("battery",),
    upper="battery.soc_max",
    lower="battery.soc_min",
)
"""The battery's state-of-charge window as a limit kind (not a plan limit: the physics clips
the SOC to it)."""


@dataclass(frozen=True)
class WatchedLimit:
    """One limit alarm: a side of a limit kind, the point measuring it, the fallback estimate.

    Attributes
    ----------
    alarm
        Alarm kind, e.g. ``limit_inlet_temperature_high``.
    kind
        The limit kind (description, unit, simulation variable, scale).
    side
        ``upper`` or ``lower``.
    limit
        Where the limit comes from (:data:`physics.violations.LimitSource`).
    equipment
        The facility part the equipment ids come from (``racks``), or fixed labels.
    source
        Format of the alarm's source with ``{}`` for the equipment id, e.g.
        ``rack/{}/inlet_temperature``; a point id of the catalogue when the hall measures it.
    estimate
        Fallback without a fresh healthy reading (see the module docstring).
    """

    alarm: str
    kind: LimitKind
    side: Literal["upper", "lower"]
    limit: LimitSource
    equipment: str | tuple[str, ...]
    source: str
    estimate: Estimate = "model"


def _upper(name: str, source: str, alarm: str = "", estimate: Estimate = "model") -> WatchedLimit:
    kind = LIMIT_KINDS[name]
    return WatchedLimit(
        alarm or f"limit_{name}", kind, "upper", kind.upper, kind.equipment, source, estimate
    )


WATCHED_LIMITS: tuple[WatchedLimit, ...] = (
    _upper(
        "inlet_temperature",
        "rack/{}/inlet_temperature",
        "limit_inlet_temperature_high",
        "inlet",
    ),
    WatchedLimit(
        "limit_inlet_temperature_low",
        LIMIT_KINDS["inlet_temperature"],
        "lower",
        LIMIT_KINDS["inlet_temperature"].lower,
        "racks",
        "rack/{}/inlet_temperature",
        "inlet",
    ),
    WatchedLimit(
        "limit_undervoltage",
        LIMIT_KINDS["undervoltage"],
        "lower",
        LIMIT_KINDS["undervoltage"].lower,
        "busbars",
        "busbar/{}/voltage",
    ),
    _upper("feed_capacity", "feed/{}/power"),
    _upper("ups_rating", "ups/{}/output"),
    _upper("shelf_capacity", "busbar/{}/shelf_output"),
    _upper("coolant_supply", "cdu/{}/supply_temperature"),
    _upper("contract_capacity", "grid/power"),
    WatchedLimit(
        "limit_battery_soc_low",
        BATTERY_SOC,
        "lower",
        BATTERY_SOC.lower,
        ("battery",),
        "battery/soc",
        "soc",
    ),
    WatchedLimit(
        "limit_battery_soc_high",
        BATTERY_SOC,
        "upper",
        BATTERY_SOC.upper,
        ("battery",),
        "battery/soc",
        "soc",
    ),
)
"""Every limit alarm of the live twin (see the module docstring)."""


@dataclass(frozen=True)
class AlarmBand:
    """How close to a limit is a warning, and the deadbands of one unit.

    Attributes
    ----------
    warning
        Margin below which the alarm is a warning [unit, or fraction of the limit when
        ``relative``]; 0 for no warning band.
    hysteresis
        Extra margin needed to leave a level [unit, or fraction of the limit].
    tolerance
        Excess beyond the limit that makes the alarm critical [unit, or fraction].
    relative
        The three figures are fractions of the limit's magnitude.
    """

    warning: float
    hysteresis: float
    tolerance: float = 0.0
    relative: bool = False


DEFAULT_BANDS: dict[str, AlarmBand] = {
    "degC": AlarmBand(warning=1.0, hysteresis=0.3),
    "V": AlarmBand(warning=0.5, hysteresis=0.1),
    "kW": AlarmBand(warning=0.05, hysteresis=0.01, relative=True),
    "1": AlarmBand(warning=0.0, hysteresis=0.01, tolerance=0.02),
}
"""Bands per canonical unit: warning 1 K from a temperature limit, 0.5 V from the busbar
undervoltage limit, 5 % from a capacity; the battery SOC has no warning band (plans run it down
to its floor on purpose) and is critical 0.02 beyond its window (4 σ of an SOC meter)."""


@dataclass(frozen=True)
class LimitEntries:
    """Every watched limit of one facility, one entry per piece of equipment and side.

    Every array has one value per entry.
    """

    alarm: list[str]
    """Alarm kind of each entry."""
    source: list[str]
    """Alarm source (a point id when measured)."""
    point: list[str | None]
    """The catalogue point measuring it, or None."""
    equipment: list[str]
    """Equipment id."""
    description: list[str]
    """What is limited, e.g. ``rack inlet temperature``."""
    unit: list[str]
    """Canonical unit (UDUNITS) of value and limit."""
    variable: list[str]
    """Simulation variable of the model estimate."""
    index: NDArray[np.int64]
    """Index of the equipment along its variable's dimension (0 for facility-wide)."""
    scale: FloatArray
    """SI units per reported unit (W → kW: 1000)."""
    estimate: list[Estimate]
    """Fallback estimate of each entry."""
    limit: FloatArray
    """The limit [unit]."""
    sign: FloatArray
    """+1 for an upper limit, −1 for a lower one: margin = sign · (limit − value)."""
    warning: FloatArray
    """Warning margin [unit]."""
    hysteresis: FloatArray
    """Deadband to leave a level [unit]."""
    tolerance: FloatArray
    """Excess beyond the limit that is critical [unit]."""

    @property
    def count(self) -> int:
        """Number of entries."""
        return len(self.alarm)


def _equipment_ids(facility: Facility, equipment: str | tuple[str, ...]) -> list[str]:
    if isinstance(equipment, str):
        return list(getattr(facility, equipment).ids)
    return list(equipment)


def resolve_limits(
    facility: Facility,
    points: Mapping[str, object] | frozenset[str],
    bands: Mapping[str, AlarmBand] | None = None,
) -> LimitEntries:
    """The watched limits of ``facility`` as :class:`LimitEntries`.

    Parameters
    ----------
    facility
        The (nominal) compiled facility; its limits are design figures, not calibrated.
    points
        The catalogue's point ids (a source in it is measured).
    bands
        Bands per unit, merged over :data:`DEFAULT_BANDS`.

    Returns
    -------
    LimitEntries
        Limits without a value (no battery, no CDU, a NaN limit) are left out.
    """
    table = {**DEFAULT_BANDS, **(bands or {})}
    empty = xr.Dataset()
    rows: list[tuple[WatchedLimit, int, str, float, AlarmBand]] = []
    for watched in WATCHED_LIMITS:
        if watched.equipment == ("battery",) and facility.battery is None:
            continue
        ids = _equipment_ids(facility, watched.equipment)
        values = limit_values(watched.limit, facility, empty)
        if not ids or values is None:
            continue
        kind = watched.kind
        limits = np.broadcast_to(np.asarray(values, dtype=float) / kind.scale, (len(ids),))
        band = table.get(kind.units, AlarmBand(0.0, 0.0))
        rows += [
            (watched, i, equipment, float(limits[i]), band)
            for i, equipment in enumerate(ids)
            if np.isfinite(limits[i])
        ]
    sources = [w.source.format(equipment) for w, _, equipment, _, _ in rows]
    magnitude = np.array([abs(limit) if b.relative else 1.0 for _, _, _, limit, b in rows])

    def band_of(name: str) -> FloatArray:
        return np.array([getattr(b, name) for *_, b in rows], dtype=float) * magnitude

    return LimitEntries(
        alarm=[w.alarm for w, *_ in rows],
        source=sources,
        point=[s if s in points else None for s in sources],
        equipment=[equipment for _, _, equipment, _, _ in rows],
        description=[w.kind.description for w, *_ in rows],
        unit=[w.kind.units for w, *_ in rows],
        variable=[w.kind.variable for w, *_ in rows],
        index=np.array(
            [i if isinstance(w.equipment, str) else 0 for w, i, *_ in rows], dtype=np.int64
        ),
        scale=np.array([w.kind.scale for w, *_ in rows], dtype=float),
        estimate=[w.estimate for w, *_ in rows],
        limit=np.array([limit for _, _, _, limit, _ in rows], dtype=float),
        sign=np.array([1.0 if w.side == "upper" else -1.0 for w, *_ in rows]),
        warning=band_of("warning"),
        hysteresis=band_of("hysteresis"),
        tolerance=band_of("tolerance"),
    )
