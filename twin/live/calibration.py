"""Online calibration of the twin's uncertain parameters from the measurement stream.

Each call of :meth:`Calibrator.update` takes the readings of one moment and the twin's
prediction of every point *under the current estimates* (:func:`twin.live.parameters.predict`) and
moves the estimates towards agreement, with uncertainty.  It is an extended Kalman filter for
constant parameters: a residual ``r = measured − predicted`` is explained by
``r ≈ H·(θ − θ̂)`` with sensitivities ``H`` that follow from the structure of the model (so no
extra simulation is needed), and the filter's fixed point is where the model predicts the
measurements on average.  Because the next prediction uses the updated estimates, errors in
``H`` only change how fast it converges, not where.

=============================  ==================================  ============================
parameter                      from readings of                    sensitivity ``H``
=============================  ==================================  ============================
``inlet_offset/<rack>`` [K]    ``rack/<rack>/inlet_temperature``   1
                               and ``…/outlet_temperature``
``crah_fan_factor`` [-]        ``crah/<unit>/fan_power``           ``P̂_fan / f̂``
                               ``plant/power``                     ``Σ P̂_fan / f̂``
``plant_power_factor`` [-]     ``plant/power``                     ``(P̂ − Σ P̂_fan − P_CDU pumps)
                                                                   / ĝ``
``busbar_resistance_factor``   ``busbar/<busbar>/voltage``         ``−(V_nominal − V̂) / b̂``
=============================  ==================================  ============================

* **Offsets** are independent per rack (one scalar Kalman filter each, vectorized); the three
  factors share one 3×3 covariance (plant power also depends on the CRAH fans).
* **Racks without an inlet sensor** keep their prior offset (0): the offsets are local by
  nature (a leak or a hot spot), so a neighbour's offset says nothing about them; inferring
  their inlets is the state estimator's job.
* **Recirculation scale is not estimated** (held at the prior): with per-rack offsets it is
  not identifiable from a demo-like stream.  A scale multiplies each rack's recirculation
  rise (1.5–4 K on the demo hall), an offset adds a constant; they differ only through the
  time variation of the rise, which is 0 K on the GPU and storage rows (constant power) and
  0.15–0.19 K (standard deviation over the day) on the inference row.
* **Noise**: each residual is weighted by the sensor's σ
  (:data:`twin.live.parameters.DEFAULT_NOISE`, relative σ taken of the predicted value).
* **Robustness**: NaN or infinite readings or predictions, unknown points and points without a
  role are skipped; each residual is clipped to ``clip`` (default 4) standard deviations of
  its predicted spread ``√(H·P·Hᵀ + σ²)`` (a Huber-like bound on what one outlier can do).
* **Forgetting**: the covariance grows by ``1/forgetting`` per hour between updates (capped at
  the prior), so the estimates can follow slow drifts (fouling, a changed fan) with a memory
  of about ``1/(1 − forgetting)`` hours (100 h by default).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from physics.facility import Facility
from twin.live.parameters import DEFAULT_NOISE, RELATIVE_NOISE, UncertainParameters, noise_std
from twin.scenario.points import PointCatalogue, Reading

FloatArray = NDArray[np.float64]

ESTIMATED_FACTORS: tuple[str, ...] = (
    "crah_fan_factor",
    "plant_power_factor",
    "busbar_resistance_factor",
)
"""Factors the calibrator estimates, in the order of its covariance matrix."""

DEFAULT_PRIOR_STD: dict[str, float] = {
    "inlet_offset": 2.0,
    "crah_fan_factor": 0.2,
    "plant_power_factor": 0.2,
    "busbar_resistance_factor": 0.3,
}
"""Prior standard deviation per parameter (offsets in K, factors in [-])."""

DEFAULT_TOLERANCE: dict[str, float] = {
    "inlet_offset": 0.1,
    "crah_fan_factor": 0.01,
    "plant_power_factor": 0.01,
    "busbar_resistance_factor": 0.01,
}
"""A parameter is *converged* when its standard deviation is at most this (K or [-])."""

MIN_SAMPLES = 10
"""Readings a parameter needs before it can be called converged [-]."""

_MIN_FACTOR = 0.05
"""Estimates of the factors are kept at or above this [-] (a factor must stay positive)."""

_OFFSET, _FAN, _PLANT, _BUSBAR = range(4)

_Use = tuple[bool, int, tuple[float, float, float], float, float]
"""How a point's readings enter an update (:meth:`Calibrator._use`)."""


@dataclass(frozen=True)
class _Logged:
    """The readings of one update, as pseudo-measurements of the parameters, for a replay.

    Offsets: ``z = reading − prediction + offset then`` [K] per reading; factors: ``z =
    residual + H·θ then`` with its row ``H``; σ² of each reading; the point code and the
    reading's time [s since 1970 UTC] of each (:meth:`Calibrator.discount` drops a point's
    readings from a time on)."""

    seq: int
    time: datetime
    off_index: NDArray[np.int64]
    off_z: FloatArray
    off_var: FloatArray
    off_point: NDArray[np.int64]
    off_t: FloatArray
    rows: FloatArray
    f_z: FloatArray
    f_var: FloatArray
    f_point: NDArray[np.int64]
    f_t: FloatArray

    def without(self, point: int, since: float) -> tuple[_Logged, int]:
        """This update without ``point``'s readings at or after ``since`` [s]; and how many
        were dropped."""
        off = ~((self.off_point == point) & (self.off_t >= since))
        fac = ~((self.f_point == point) & (self.f_t >= since))
        dropped = int((~off).sum() + (~fac).sum())
        if not dropped:
            return self, 0
        kept = replace(
            self,
            off_index=self.off_index[off],
            off_z=self.off_z[off],
            off_var=self.off_var[off],
            off_point=self.off_point[off],
            off_t=self.off_t[off],
            rows=self.rows[fac],
            f_z=self.f_z[fac],
            f_var=self.f_var[fac],
            f_point=self.f_point[fac],
            f_t=self.f_t[fac],
        )
        return kept, dropped


@dataclass(frozen=True)
class _Checkpoint:
    """The filter's state before the update numbered ``seq`` (at ``time``)."""

    seq: int
    time: datetime
    arrays: dict[str, Any]
    last_time: datetime | None


_STATE_ARRAYS = (
    "_offset",
    "_offset_var",
    "_offset_samples",
    "_offset_clipped",
    "_theta",
    "_cov",
    "_theta_samples",
    "_theta_clipped",
)
"""The arrays that are the filter's state (checkpoints, :meth:`Calibrator.state_dict`)."""


class HistoryEntry(NamedTuple):
    """One recorded estimate: ``(time, name, value, std)``.

    ``time`` is tz-aware UTC; ``name`` e.g. ``crah_fan_factor`` or ``inlet_offset/A02``;
    ``value`` and ``std`` in the parameter's unit (K for offsets, [-] for factors).
    """

    time: datetime
    name: str
    value: float
    std: float


def _columns(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The six columns of :meth:`Calibrator.update`'s pseudo-measurement rows (empty ones for
    none)."""
    return list(zip(*rows, strict=True)) if rows else [()] * 6


class Calibrator:
    """Online estimator of :class:`~twin.live.parameters.UncertainParameters` from readings.

    Parameters
    ----------
    facility
        Nominal compiled facility (the one :func:`twin.live.parameters.apply` modifies).
    prior
        Prior estimates (default: nominal).
    prior_std
        Prior standard deviations, merged over :data:`DEFAULT_PRIOR_STD` (offsets [K] under
        ``"inlet_offset"``, factors [-]).
    noise
        Sensor noise σ per quantity, merged over :data:`twin.live.parameters.DEFAULT_NOISE`.
    forgetting
        Share of the information kept per hour, in (0, 1] (1: none forgotten).
    clip
        Residuals are clipped at this many predicted standard deviations [-].
    history_interval
        Least time between two history entries of one parameter [s] (0: every update).
    max_history
        Entries kept in :attr:`history` (oldest dropped first).
    rollback_horizon
        How far back :meth:`discount` can take a sensor's readings out [s]: the updates of
        this long are kept, with a checkpoint of the state every ``checkpoint_interval`` [s].

    Attributes
    ----------
    history : list of HistoryEntry
        Estimates over time, appended by :meth:`update` for the parameters it changed.
    """

    def __init__(
        self,
        facility: Facility,
        *,
        prior: UncertainParameters | None = None,
        prior_std: Mapping[str, float] | None = None,
        noise: Mapping[str, float] | None = None,
        forgetting: float = 0.99,
        clip: float = 4.0,
        history_interval: float = 0.0,
        max_history: int = 100_000,
        rollback_horizon: float = 1800.0,
        checkpoint_interval: float = 60.0,
    ) -> None:
        if not 0.0 < forgetting <= 1.0:
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting}")
        if not clip > 0.0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.facility = facility
        self.prior = prior if prior is not None else UncertainParameters()
        self.prior_std: dict[str, float] = {**DEFAULT_PRIOR_STD, **(prior_std or {})}
        self.noise: dict[str, float] = {**DEFAULT_NOISE, **(noise or {})}
        self.forgetting = float(forgetting)
        self.clip = float(clip)
        self.history_interval = float(history_interval)
        self.max_history = int(max_history)
        self.history: list[HistoryEntry] = []
        self._pending: list[HistoryEntry] = []
        self._last_entry: dict[str, datetime] = {}
        self._last_time: datetime | None = None
        self.updates = 0

        self.catalogue = PointCatalogue(facility)
        self._racks = list(facility.racks.ids)
        count = len(self._racks)
        self._offset = self.prior.offsets(facility).copy()
        self._offset_prior_var = np.full(count, self.prior_std["inlet_offset"] ** 2)
        self._offset_var = self._offset_prior_var.copy()
        self._offset_samples = np.zeros(count, dtype=np.int64)
        self._offset_clipped = np.zeros(count, dtype=np.int64)

        self._theta = np.array([getattr(self.prior, n) for n in ESTIMATED_FACTORS], dtype=float)
        self._theta_prior_var = np.array([self.prior_std[n] ** 2 for n in ESTIMATED_FACTORS])
        self._cov = np.diag(self._theta_prior_var)
        self._theta_samples = np.zeros(len(ESTIMATED_FACTORS), dtype=np.int64)
        self._theta_clipped = np.zeros(len(ESTIMATED_FACTORS), dtype=np.int64)

        self._fan_points = [f"crah/{u}/fan_power" for u in facility.units.ids]
        self._nominal_voltage = np.asarray(facility.busbars.nominal_voltage, dtype=float)
        cdus = facility.cdus
        self._cdu_pump_kw = float(np.sum(np.where(cdus.capacity > 0, cdus.pump_power, 0.0))) / 1e3
        self._roles: dict[str, tuple[int, int, float, bool]] = {}
        """Point id → (role, index along its dimension, noise σ, σ relative to the value)."""
        for point, (kind, index) in self.catalogue.kinds.items():
            role: int | None = None
            if kind.prefix == "rack" and kind.quantity in (
                "inlet_temperature",
                "outlet_temperature",
            ):
                role = _OFFSET
            elif kind.prefix == "crah" and kind.quantity == "fan_power":
                role = _FAN
            elif point == "plant/power":
                role = _PLANT
            elif kind.prefix == "busbar" and kind.quantity == "voltage":
                role = _BUSBAR
            if role is not None:
                sigma = float(noise_std(kind, 1.0, self.noise))
                relative = kind.quantity in RELATIVE_NOISE
                self._roles[point] = (role, -1 if index is None else index, sigma, relative)
        self._codes = {point: k for k, point in enumerate(self._roles)}
        self.rollback_horizon = float(rollback_horizon)
        self.checkpoint_interval = float(checkpoint_interval)
        self._log: deque[_Logged] = deque()
        self._checkpoints: deque[_Checkpoint] = deque()
        self._seq = 0

    # ------------------------------------------------------------------ update

    def update(
        self, time: datetime, readings: Sequence[Reading], predicted: Mapping[str, float]
    ) -> int:
        """Update the estimates from the readings of one moment.

        Parameters
        ----------
        time
            Timezone-aware time of the readings (sets the forgetting and history time).
        readings
            Measurements in canonical units (°C, kW, V).
        predicted
            Point id → value predicted by the model with the current :meth:`estimates` at
            ``time`` (:func:`twin.live.parameters.predict`).

        Returns
        -------
        int
            Readings used (skipped: unknown points, points without a role, NaN).
        """
        moment = _utc(time)
        fan_total = 0.0
        for point in self._fan_points:
            fan_total += float(predicted.get(point, math.nan))
        # what depends on the point only (its role, the model's value, σ², the row and its
        # dot product with θ, which the loop does not change), worked out at its first
        # reading; what depends on the time only (its seconds), at its first reading too;
        # then each reading adds its pseudo-measurement in order, into columns
        plans: dict[str, _Use | None] = {}
        dots: dict[str, float] = {}
        seconds_of: dict[datetime, float] = {}
        codes, offset_now, theta = self._codes, self._offset.tolist(), self._theta
        offs: list[tuple[Any, ...]] = []  # (residual, rack index, z, σ², code, seconds)
        facs: list[tuple[Any, ...]] = []  # (residual, factor row, z, σ², code, seconds)
        for reading in readings:
            point = reading.point
            if point not in plans:
                plans[point] = plan = self._use(point, predicted, fan_total)
                if plan is not None and not plan[0]:
                    dots[point] = float(np.dot(plan[2], theta))
            plan = plans[point]
            if plan is None:  # no role, or its readings say nothing now
                continue
            measured = float(reading.value)
            if not math.isfinite(measured):
                continue
            offset, index, row, model, var = plan
            when = reading.time
            seconds = seconds_of.get(when)
            if seconds is None:
                seconds = seconds_of[when] = when.timestamp()
            residual = measured - model  # as it is (the replay uses z)
            z = residual + (offset_now[index] if offset else dots[point])
            where = index if offset else row
            (offs if offset else facs).append((residual, where, z, var, codes[point], seconds))
        o, f = _columns(offs), _columns(facs)
        entry = _Logged(
            self._seq,
            moment,
            np.array(o[1], dtype=np.int64),
            np.array(o[2], dtype=float),
            np.array(o[3], dtype=float),
            np.array(o[4], dtype=np.int64),
            np.array(o[5], dtype=float),
            np.array(f[1], dtype=float).reshape(-1, 3),
            np.array(f[2], dtype=float),
            np.array(f[3], dtype=float),
            np.array(f[4], dtype=np.int64),
            np.array(f[5], dtype=float),
        )
        self._seq += 1
        self._checkpoint(entry)
        touched = self._apply(entry, np.asarray(o[0], dtype=float), np.asarray(f[0], dtype=float))
        self._log.append(entry)
        self.updates += 1
        self._record(moment, touched)
        return len(offs) + len(facs)

    def _apply(
        self,
        entry: _Logged,
        off_residual: FloatArray | None = None,
        f_residual: FloatArray | None = None,
    ) -> list[str]:
        """One update: from the residuals given (a new update), else from its
        pseudo-measurements against the state now (a replay)."""
        self._forget(entry.time)
        touched: list[str] = []
        if entry.off_index.size:
            if off_residual is None:
                off_residual = entry.off_z - self._offset[entry.off_index]
            touched += self._update_offsets(entry.off_index, off_residual, entry.off_var)
        if entry.f_z.size:
            if f_residual is None:
                f_residual = entry.f_z - entry.rows @ self._theta
            touched += self._update_factors(entry.rows, f_residual, entry.f_var)
        return touched

    def _snapshot(self, seq: int, time: datetime) -> _Checkpoint:
        arrays = {name: getattr(self, name).copy() for name in _STATE_ARRAYS}
        return _Checkpoint(seq, time, arrays, self._last_time)

    def _restore(self, checkpoint: _Checkpoint) -> None:
        for name, value in checkpoint.arrays.items():
            setattr(self, name, value.copy())
        self._last_time = checkpoint.last_time

    def _checkpoint(self, entry: _Logged) -> None:
        """A checkpoint before ``entry`` when the last is ``checkpoint_interval`` old; the
        updates and checkpoints older than ``rollback_horizon`` are let go."""
        points = self._checkpoints
        if not points or (entry.time - points[-1].time).total_seconds() >= self.checkpoint_interval:
            points.append(self._snapshot(entry.seq, entry.time))
        horizon = entry.time - timedelta(seconds=self.rollback_horizon)
        while len(points) > 1 and points[1].time <= horizon:
            points.popleft()
        while self._log and self._log[0].seq < points[0].seq:
            self._log.popleft()

    def discount(self, point: str, since: datetime) -> int:
        """Take out what the readings of ``point`` from ``since`` on taught the filter (a
        sensor found stuck or drifting since then: its readings before the detection were
        used).  The state goes back to the newest checkpoint before ``since`` (the oldest
        kept when ``since`` is older than ``rollback_horizon``: then only the readings since
        that checkpoint are taken out) and the updates after it are replayed without those
        readings; the parameters they touched get a history entry at the last update.

        Returns
        -------
        int
            Readings taken out [count] (0: none was used, nothing changes).
        """
        code = self._codes.get(point)
        if code is None or not self._checkpoints:
            return 0
        t0 = _utc(since).timestamp()
        if not any(e.without(code, t0)[1] for e in self._log):
            return 0
        start = self._checkpoints[0]
        for checkpoint in self._checkpoints:
            if checkpoint.time <= since:
                start = checkpoint
        entries = [e for e in self._log if e.seq >= start.seq]
        kept_log = [e for e in self._log if e.seq < start.seq]
        while self._checkpoints and self._checkpoints[-1].seq > start.seq:
            self._checkpoints.pop()
        self._restore(start)
        removed = 0
        touched: set[str] = set()
        self._log = deque(kept_log)
        for entry in entries:
            kept, dropped = entry.without(code, t0)
            removed += dropped
            if kept.seq != start.seq:
                self._checkpoint(kept)
            touched.update(self._apply(kept))
            self._log.append(kept)
        if entries:
            self._record(entries[-1].time, sorted(touched), force=True)
        return removed

    def _use(self, point: str, predicted: Mapping[str, float], fan_total: float) -> _Use | None:
        """How the readings of ``point`` enter :meth:`update`: None when they are skipped (no
        role; or the model's value is not finite, σ is not positive, or the row is
        undefined), else (offset role, rack index, factor row, model value, σ² of a
        reading)."""
        spec = self._roles.get(point)
        if spec is None:
            return None
        model = float(predicted.get(point, math.nan))
        if not math.isfinite(model):
            return None
        role, index, sigma, relative = spec
        if relative:
            sigma *= abs(model)
        if not sigma > 0.0:
            return None
        theta = self._theta
        if role == _OFFSET:
            return (True, index, (0.0, 0.0, 0.0), model, sigma**2)
        if role == _FAN:
            row = (model / theta[0], 0.0, 0.0)
        elif role == _PLANT:
            if not math.isfinite(fan_total):
                return None
            plant_part = model - fan_total - self._cdu_pump_kw
            row = (fan_total / theta[0], plant_part / theta[1], 0.0)
        else:
            drop = self._nominal_voltage[index] - model
            if not drop > 1e-9:
                return None  # an unloaded busbar says nothing about its resistance
            row = (0.0, 0.0, -drop / theta[2])
        return (False, index, row, model, sigma**2)

    def _forget(self, moment: datetime) -> None:
        if self._last_time is not None and self.forgetting < 1.0:
            hours = max((moment - self._last_time).total_seconds(), 0.0) / 3600.0
            if hours > 0.0:
                grow = self.forgetting ** (-hours)
                self._offset_var = np.minimum(self._offset_var * grow, self._offset_prior_var)
                cov = self._cov * grow
                scale = np.sqrt(np.minimum(1.0, self._theta_prior_var / np.diag(cov)))
                self._cov = cov * np.outer(scale, scale)
        if self._last_time is None or moment > self._last_time:
            self._last_time = moment

    def _update_offsets(
        self, index: NDArray[np.int64], residual: FloatArray, variance: FloatArray
    ) -> list[str]:
        """Scalar Kalman update of each rack's offset (H = 1), batched."""
        spread = np.sqrt(self._offset_var[index] + variance)
        bound = self.clip * spread
        clipped = np.abs(residual) > bound
        residual = np.clip(residual, -bound, bound)
        count = self._offset.size
        information = np.bincount(index, weights=1.0 / variance, minlength=count)
        weighted = np.bincount(index, weights=residual / variance, minlength=count)
        touched = np.flatnonzero(information > 0)
        new_var = 1.0 / (1.0 / self._offset_var[touched] + information[touched])
        self._offset[touched] += new_var * weighted[touched]
        self._offset_var[touched] = new_var
        self._offset_samples += np.bincount(index, minlength=count)
        self._offset_clipped += np.bincount(index[clipped], minlength=count)
        return [f"inlet_offset/{self._racks[r]}" for r in touched]

    def _update_factors(
        self, h: FloatArray, residual: FloatArray, variance: FloatArray
    ) -> list[str]:
        """Joint Kalman update of the factors (information form)."""
        spread = np.sqrt(np.einsum("ij,jk,ik->i", h, self._cov, h) + variance)
        bound = self.clip * spread
        clipped = np.abs(residual) > bound
        residual = np.clip(residual, -bound, bound)
        weighted_h = h / variance[:, np.newaxis]
        information = np.linalg.inv(self._cov) + h.T @ weighted_h
        cov = np.linalg.inv(information)
        cov = 0.5 * (cov + cov.T)
        self._theta = np.maximum(self._theta + cov @ (weighted_h.T @ residual), _MIN_FACTOR)
        self._cov = cov
        used = h != 0.0
        self._theta_samples += used.sum(axis=0)
        self._theta_clipped += (used & clipped[:, np.newaxis]).sum(axis=0)
        return [name for j, name in enumerate(ESTIMATED_FACTORS) if used[:, j].any()]

    def _record(self, moment: datetime, names: list[str], force: bool = False) -> None:
        if not names:
            return
        std = self.uncertainty()
        values = self.estimates().as_dict(self.facility)
        for name in names:
            last = self._last_entry.get(name)
            recent = last is not None and (moment - last).total_seconds() < self.history_interval
            if recent and not force:
                continue
            entry = HistoryEntry(moment, name, values[name], std[name])
            self.history.append(entry)
            self._pending.append(entry)
            self._last_entry[name] = moment
        if len(self.history) > self.max_history:
            del self.history[: len(self.history) - self.max_history]
        if len(self._pending) > self.max_history:
            del self._pending[: len(self._pending) - self.max_history]

    # ------------------------------------------------------------------ results

    def estimates(self) -> UncertainParameters:
        """Current estimates (offsets [K] per rack in facility order, factors [-])."""
        factors = dict(zip(ESTIMATED_FACTORS, (float(v) for v in self._theta), strict=True))
        return UncertainParameters(
            inlet_offset=tuple(float(v) for v in self._offset),
            recirculation_scale=self.prior.recirculation_scale,
            **factors,
        )

    def uncertainty(self) -> dict[str, float]:
        """Standard deviation of every parameter: factors [-], ``inlet_offset/<rack>`` [K].

        ``recirculation_scale`` (not estimated) reports 0.
        """
        std = {"recirculation_scale": 0.0}
        for j, name in enumerate(ESTIMATED_FACTORS):
            std[name] = float(math.sqrt(max(self._cov[j, j], 0.0)))
        for rack, var in zip(self._racks, self._offset_var, strict=True):
            std[f"inlet_offset/{rack}"] = float(math.sqrt(var))
        return std

    def status(self) -> dict[str, dict[str, Any]]:
        """Per parameter, JSON-ready: value, std, unit, samples, clipped, converged, estimated.

        Lists the factors and the offsets of racks that have had readings or a non-zero
        prior.  ``converged`` means at least :data:`MIN_SAMPLES` readings and a standard
        deviation within :data:`DEFAULT_TOLERANCE`.
        """
        std = self.uncertainty()
        out: dict[str, dict[str, Any]] = {
            "recirculation_scale": {
                "value": self.prior.recirculation_scale,
                "std": 0.0,
                "unit": "1",
                "samples": 0,
                "clipped": 0,
                "converged": False,
                "estimated": False,
            }
        }
        for j, name in enumerate(ESTIMATED_FACTORS):
            samples = int(self._theta_samples[j])
            out[name] = {
                "value": float(self._theta[j]),
                "std": std[name],
                "unit": "1",
                "samples": samples,
                "clipped": int(self._theta_clipped[j]),
                "converged": samples >= MIN_SAMPLES and std[name] <= DEFAULT_TOLERANCE[name],
                "estimated": True,
            }
        prior = self.prior.offsets(self.facility)
        for r, rack in enumerate(self._racks):
            samples = int(self._offset_samples[r])
            if samples == 0 and prior[r] == 0.0:
                continue
            name = f"inlet_offset/{rack}"
            out[name] = {
                "value": float(self._offset[r]),
                "std": std[name],
                "unit": "K",
                "samples": samples,
                "clipped": int(self._offset_clipped[r]),
                "converged": samples >= MIN_SAMPLES
                and std[name] <= DEFAULT_TOLERANCE["inlet_offset"],
                "estimated": True,
            }
        return out

    def state_dict(self) -> dict[str, Any]:
        """The calibrated state, JSON-ready (for the store: a restart resumes from it):
        ``racks`` (facility order), per rack ``offset`` [K], ``offset_var`` [K²],
        ``offset_samples``, ``offset_clipped``; ``factors`` (names), ``theta`` [-], ``cov``
        [-²], ``theta_samples``, ``theta_clipped``; ``last_time`` (ISO UTC) and
        ``updates``."""
        return {
            "racks": list(self._racks),
            "offset": self._offset.tolist(),
            "offset_var": self._offset_var.tolist(),
            "offset_samples": self._offset_samples.tolist(),
            "offset_clipped": self._offset_clipped.tolist(),
            "factors": list(ESTIMATED_FACTORS),
            "theta": self._theta.tolist(),
            "cov": self._cov.tolist(),
            "theta_samples": self._theta_samples.tolist(),
            "theta_clipped": self._theta_clipped.tolist(),
            "last_time": None if self._last_time is None else self._last_time.isoformat(),
            "updates": self.updates,
        }

    def load_state(self, data: Mapping[str, Any]) -> int:
        """Resume from :meth:`state_dict`: the factors, and the offsets of the racks this
        facility still has (by id); returns the racks restored.  The forgetting then counts
        from the saved ``last_time`` (the covariance grows over the time the twin was down).
        A state of other factors is refused (``ValueError``) and nothing changes."""
        if list(data.get("factors", [])) != list(ESTIMATED_FACTORS):
            raise ValueError("the saved calibration has other factors")
        theta = np.asarray(data["theta"], dtype=float)
        cov = np.asarray(data["cov"], dtype=float)
        if theta.shape != self._theta.shape or cov.shape != self._cov.shape:
            raise ValueError("the saved calibration has another shape")
        where = {rack: r for r, rack in enumerate(self._racks)}
        pairs = [(where[rack], k) for k, rack in enumerate(data["racks"]) if rack in where]
        mine = np.array([r for r, _ in pairs], dtype=np.int64)
        saved = np.array([k for _, k in pairs], dtype=np.int64)
        for name in ("offset", "offset_var", "offset_samples", "offset_clipped"):
            target = getattr(self, f"_{name}")
            target[mine] = np.asarray(data[name])[saved]
        self._theta, self._cov = theta, cov
        self._theta_samples = np.asarray(data["theta_samples"], dtype=np.int64)
        self._theta_clipped = np.asarray(data["theta_clipped"], dtype=np.int64)
        last = data.get("last_time")
        self._last_time = None if last is None else _utc(datetime.fromisoformat(last))
        self.updates = int(data.get("updates", 0))
        self._log.clear()
        self._checkpoints.clear()
        return int(mine.size)

    def drain_history(self) -> list[HistoryEntry]:
        """History entries recorded since the last call (for the service to store)."""
        entries, self._pending = self._pending, []
        return entries


def _utc(time: datetime) -> datetime:
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"naive datetime {time.isoformat()}: give a timezone (UTC)")
    return time.astimezone(UTC)
