"""Rack inlet temperatures, measured or not: a Kalman filter on each rack's deviation from the
model.

The filter's state is the per-rack deviation ``d = T_inlet − T_predicted`` [K].  Between updates
the deviation follows a mean-reverting random walk (Ornstein–Uhlenbeck) whose increments are
correlated between racks that share an air path::

    d(t+Δt) = a·d(t) + w,   a = exp(−Δt/τ),   w ~ N(0, (1 − a²)·σ₀²·C)
    C[i, j] = exp(−|position_i − position_j| / L)   (same row and cooling unit, else 0)

``σ₀`` is ``prior_std`` (the spread of the model's error before any reading), ``L`` is
``correlation_length`` (in rack positions) and ``τ = 2σ₀²/q²`` with ``q`` the ``process_std``, so
that for Δt ≪ τ the process noise is ``q²·Δt·C`` (a random walk, variance proportional to
elapsed time) while an unmeasured row never drifts beyond ``σ₀``.  A reading ``y`` of rack r
measures ``d_r = y − T_predicted,r`` with noise ``measurement_std``.  Because ``C`` is
block-diagonal per (row, cooling unit), the filter keeps one dense covariance block per row and
updates all rows at once with batched linear algebra; a measured rack updates its unmeasured
neighbours through the covariance (virtual sensors).

Used by :class:`twin.live.state_estimator.StateEstimator`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from physics.facility import Facility

__all__ = ["InletFilter"]

FloatArray = NDArray[np.float64]

_HOUR = 3600.0


class InletFilter:
    """Kalman filter on the rack inlet deviations from the model (see the module docstring).

    Parameters
    ----------
    facility
        Compiled facility (racks' ``row``, ``position`` and ``unit`` define the air paths).
    process_std
        ``q`` [K h^-1/2].
    measurement_std
        Inlet sensor noise [K].
    correlation_length
        ``L`` [rack positions].
    prior_std
        ``σ₀`` [K].

    Attributes
    ----------
    reversion_time
        Mean-reversion time τ of the deviation [s].
    last_time
        Time of the newest reading applied per rack [s since 1970-01-01 UTC]; −inf before
        the first, shape (R,).
    """

    def __init__(
        self,
        facility: Facility,
        *,
        process_std: float,
        measurement_std: float,
        correlation_length: float,
        prior_std: float,
    ) -> None:
        self.facility = facility
        self.process_std = float(process_std)
        self.measurement_std = float(measurement_std)
        self.correlation_length = float(correlation_length)
        self.prior_std = float(prior_std)
        self.reversion_time = 2.0 * prior_std**2 / process_std**2 * _HOUR
        self._build_groups()
        self.last_time = np.full(facility.racks.count, -np.inf)
        self._d = np.zeros(self._slot_rack.shape)
        self._p = self.prior_std**2 * self._corr.copy()

    def _build_groups(self) -> None:
        """Racks grouped by (row, cooling unit), padded to one (G, n) layout."""
        racks = self.facility.racks
        keys: dict[tuple[str, int], list[int]] = {}
        for r in range(racks.count):
            keys.setdefault((str(racks.row[r]), int(racks.unit[r])), []).append(r)
        groups = [
            sorted(members, key=lambda r: int(racks.position[r])) for members in keys.values()
        ]
        size = max((len(g) for g in groups), default=1)
        count = max(len(groups), 1)
        slot_rack = np.full((count, size), -1, dtype=np.int64)
        corr = np.tile(np.eye(size), (count, 1, 1))
        self._rack_group = np.zeros(racks.count, dtype=np.int64)
        self._rack_slot = np.zeros(racks.count, dtype=np.int64)
        for g, members in enumerate(groups):
            n = len(members)
            slot_rack[g, :n] = members
            pos = racks.position[members].astype(float)
            corr[g, :n, :n] = np.exp(-np.abs(pos[:, None] - pos[None, :]) / self.correlation_length)
            self._rack_group[members] = g
            self._rack_slot[members] = np.arange(n)
        self._slot_rack = slot_rack
        self._corr = corr

    def propagate(self, dt: float) -> None:
        """Ornstein–Uhlenbeck prediction over ``dt`` seconds."""
        a = math.exp(-dt / self.reversion_time)
        self._d *= a
        self._p *= a * a
        self._p += (1.0 - a * a) * self.prior_std**2 * self._corr

    def update(
        self, now: float, value: FloatArray, when: FloatArray, predicted: FloatArray
    ) -> None:
        """Kalman update of every row with at least one new inlet reading.

        Parameters
        ----------
        now
            Time of the filter [s since 1970-01-01 UTC]; older readings count with their age
            added to the measurement variance.
        value
            Newest inlet reading per rack [°C]; NaN for none, shape (R,).
        when
            Its time [s since 1970-01-01 UTC], shape (R,).
        predicted
            Model prediction per rack [°C]; NaN where unknown (the rack is not updated), (R,).
        """
        new = np.isfinite(value) & np.isfinite(predicted) & (when > self.last_time)
        if not new.any():
            return
        racks = np.flatnonzero(new)
        self.last_time[racks] = when[racks]
        age = np.maximum(now - when[racks], 0.0)
        variance = self.measurement_std**2 + self.process_std**2 * age / _HOUR
        groups = np.unique(self._rack_group[racks])
        local_groups = np.searchsorted(groups, self._rack_group[racks])
        size = self._slot_rack.shape[1]
        mask = np.zeros((groups.size, size), dtype=bool)
        z = np.zeros((groups.size, size))
        r_var = np.ones((groups.size, size))
        slots = self._rack_slot[racks]
        mask[local_groups, slots] = True
        z[local_groups, slots] = value[racks] - predicted[racks]
        r_var[local_groups, slots] = variance

        p = self._p[groups]
        d = self._d[groups]
        both = mask[:, :, None] & mask[:, None, :]
        s = np.where(both, p, 0.0)  # H P Hᵀ, identity on the unmeasured diagonal
        diag = np.arange(size)
        s[:, diag, diag] = np.where(mask, p[:, diag, diag] + r_var, 1.0)
        innovation = np.where(mask, z - d, 0.0)
        ph = np.where(mask[:, None, :], p, 0.0)  # P Hᵀ with unmeasured columns zeroed
        # S is symmetric: solve S [x | W] = [innovation | H P]
        rhs = np.concatenate([innovation[:, :, None], np.swapaxes(ph, 1, 2)], axis=2)
        sol = np.linalg.solve(s, rhs)
        d = d + np.einsum("gij,gj->gi", ph, sol[:, :, 0])
        p = p - ph @ sol[:, :, 1:]
        p = 0.5 * (p + np.swapaxes(p, 1, 2))
        self._d[groups] = d
        self._p[groups] = p

    def shift(self, delta: FloatArray) -> None:
        """Move every rack's deviation by ``delta`` [K] per rack, shape (R,) (the prediction
        it is taken from moved by ``−delta``); the covariance is unchanged."""
        g, s = self._rack_group, self._rack_slot
        self._d[g, s] += np.where(np.isfinite(delta), delta, 0.0)

    def set_deviation(self, rack: int, value: float) -> None:
        """Set one rack's deviation mean [K] (its covariance is unchanged)."""
        self._d[self._rack_group[rack], self._rack_slot[rack]] = value

    def deviation(self) -> tuple[FloatArray, FloatArray]:
        """Estimated deviation from the model per rack, mean [K] and standard deviation [K]."""
        g, s = self._rack_group, self._rack_slot
        return self._d[g, s], np.sqrt(np.maximum(self._p[g, s, s], 0.0))
