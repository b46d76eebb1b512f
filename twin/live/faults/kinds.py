"""Sensor faults as reported, and the floors of the fault tests per unit.

:class:`SensorFault` is what :class:`twin.live.faults.FaultDetector` reports: one kind of
:data:`FaultKind`, with its reason worded by :func:`stuck_reason`, :func:`offset_reason`,
:func:`drift_reason` or :func:`spike_reason`.  :class:`Tolerance` holds the floors of its tests
for one canonical unit, :data:`DEFAULT_TOLERANCES` those of the catalogue's units (see
:mod:`twin.live.faults`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from physics.facility import Facility
from twin.scenario.points import PointCatalogue

__all__ = [
    "DEFAULT_TOLERANCES",
    "FaultKind",
    "SensorFault",
    "Tolerance",
    "drift_reason",
    "interleaved_reason",
    "offset_reason",
    "spike_reason",
    "stuck_reason",
    "units_floors_groups",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

FaultKind = Literal["stuck", "drift", "spike", "silent"]
"""The kinds of sensor fault."""


@dataclass(frozen=True)
class SensorFault:
    """One detected sensor fault.

    Attributes
    ----------
    point
        Point id.
    kind
        ``stuck``, ``drift``, ``spike`` or ``silent``.
    since
        Estimated start of the fault (UTC): first reading of the frozen value, CUSUM change
        point, the spike's time, the last reading before the silence.
    reason
        One sentence with the figures.
    detected
        Time of the check that detected it (UTC).
    """

    point: str
    kind: FaultKind
    since: datetime
    reason: str
    detected: datetime

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict."""
        return {
            "point": self.point,
            "kind": self.kind,
            "since": self.since.isoformat(),
            "reason": self.reason,
            "detected": self.detected.isoformat(),
        }


@dataclass(frozen=True)
class Tolerance:
    """Floors of the tests for one canonical unit.

    Each floor is ``max(absolute, relative × |prediction|)``.

    Attributes
    ----------
    noise
        Smallest noise standard deviation assumed [unit].
    drift
        Smallest residual offset reported as drift [unit].
    change
        Smallest model movement that makes an unchanged value suspicious [unit].
    noise_relative, drift_relative, change_relative
        The same as fractions of the predicted value [-].
    """

    noise: float
    drift: float
    change: float
    noise_relative: float = 0.0
    drift_relative: float = 0.0
    change_relative: float = 0.0


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "degC": Tolerance(noise=0.05, drift=0.5, change=0.5),
    "kW": Tolerance(
        noise=0.01,
        drift=0.5,
        change=0.5,
        noise_relative=0.002,
        drift_relative=0.02,
        change_relative=0.01,
    ),
    "V": Tolerance(noise=0.005, drift=0.2, change=0.1),
    "1": Tolerance(noise=0.001, drift=0.02, change=0.01),
}
"""Floors by canonical unit (see :mod:`twin.live.faults`)."""


def stuck_reason(
    point: str,
    value: float,
    unit: str,
    readings: int,
    *,
    moved: float | None = None,
    hours: float | None = None,
) -> str:
    """Why ``point`` is stuck: at ``value`` for ``readings`` readings while the model moved by
    ``moved`` [unit], or over ``hours`` [h] although it used to change at every reading."""
    if moved is not None:
        return (
            f"{point} has read {_value(value, unit)} for {readings} readings while the "
            f"model moved by {_delta(moved, unit)}"
        )
    return (
        f"{point} has read {_value(value, unit)} for {readings} readings over "
        f"{hours:.1f} h although it changed at every reading before"
    )


def offset_reason(
    point: str, count: int, residual: float, center: float, z: float, threshold: float, unit: str
) -> str:
    """Why ``point`` has an offset: ``count`` spikes in a row, the last with ``residual`` [unit]
    against its usual ``center`` [unit], robust z ``z`` over ``threshold`` [-]."""
    return (
        f"{point} has read {count} values in a row "
        f"{_delta(abs(residual - center), unit)} {'above' if residual > center else 'below'}"
        f" its usual residual (robust z {z:.0f} > {threshold:g}): an offset"
    )


def drift_reason(
    point: str,
    mean: float,
    sigma: float,
    per_reading: float,
    window: int,
    since: datetime,
    unit: str,
) -> str:
    """Why ``point`` drifts: a ``mean`` residual [unit] over the last ``window`` readings, a
    noise of ``sigma`` [unit], growing by ``per_reading`` [unit], since about ``since``."""
    return (
        f"{point} reads {_delta(abs(mean), unit)} "
        f"{'above' if mean > 0 else 'below'} its usual residual on average over the "
        f"last {window} readings ({abs(mean) / sigma:.1f} × its noise of "
        f"{_delta(sigma, unit)}), growing by {_delta(abs(per_reading), unit)} per "
        f"reading, since about {since.strftime('%Y-%m-%d %H:%M UTC')}"
    )


def spike_reason(
    point: str,
    value: float,
    residual: float,
    center: float,
    z: float,
    threshold: float,
    unit: str,
) -> str:
    """Why a reading of ``point`` is a spike: ``value`` with ``residual`` [unit] against its
    usual ``center`` [unit], robust z ``z`` over ``threshold`` [-]."""
    direction = "above" if residual > center else "below"
    return (
        f"{point} read {_value(value, unit)}, "
        f"{_delta(abs(residual - center), unit)} {direction} its usual residual "
        f"against the model (robust z {z:.0f} > {threshold:g}); "
        "this reading is excluded"
    )


def interleaved_reason(point: str, value: float, unit: str, repeats: int, window: int) -> str:
    """Why ``point`` is stuck although its value changes: ``value`` [unit] recurs ``repeats``
    times among its last ``window`` readings, between readings that change."""
    return (
        f"{point} has read exactly {_value(value, unit)} {repeats} times in its last {window} "
        "readings, between readings that change: a value stuck in between good ones "
        "(a second source writing to the point?)"
    )


def units_floors_groups(
    catalogue: PointCatalogue, floors: Mapping[str, Tolerance], facility: Facility | None
) -> tuple[list[str], FloatArray, IntArray]:
    """Per point of ``catalogue``: its canonical unit, its floors and its peer group.

    Parameters
    ----------
    catalogue
        The facility's points.
    floors
        Floors by canonical unit.
    facility
        When given, rack points' peers are the racks of the same row.

    Returns
    -------
    units
        Canonical unit of each point.
    floors
        (noise, drift, change, noise_relative, drift_relative, change_relative) of each
        point's unit, shape (n, 6).
    groups
        Peer group of each point (rack points of one quantity, and of one row when
        ``facility`` is given); −1 for points without peers, shape (n,).
    """
    units: list[str] = []
    tol = np.zeros((len(catalogue.ids), 6))
    group_keys: list[str] = []
    for i, point in enumerate(catalogue.ids):
        kind, index = catalogue.kinds[point]
        units.append(kind.unit)
        t = floors.get(kind.unit, Tolerance(0.0, 0.0, 0.0))
        tol[i] = (
            t.noise,
            t.drift,
            t.change,
            t.noise_relative,
            t.drift_relative,
            t.change_relative,
        )
        if kind.prefix == "rack":
            key = f"{kind.prefix}/{kind.quantity}"
            if facility is not None and index is not None:
                key += f"@{facility.racks.row[index]}"
        else:
            key = ""  # no peers: equipment of one kind is not alike (jobs, feeds, CRAHs)
        group_keys.append(key)
    names = sorted(set(group_keys) - {""})
    groups = np.array([names.index(k) if k else -1 for k in group_keys], dtype=np.int64)
    return units, tol, groups


def _value(value: float, unit: str) -> str:
    """A reading with its unit, e.g. ``23.40 °C``."""
    if unit == "degC":
        return f"{value:.2f} °C"
    if unit == "1":
        return f"{value:.3f}"
    return f"{value:.2f} {unit}"


def _delta(value: float, unit: str) -> str:
    """A difference with its unit (K for temperatures), e.g. ``1.8 K``."""
    if unit == "degC":
        return f"{value:.2f} K"
    if unit == "1":
        return f"{value:.3f}"
    return f"{value:.2f} {unit}"
