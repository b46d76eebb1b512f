"""The electrical chain of :func:`physics.simulate.simulate`, for one chunk of steps.

From the IT load upward: 48→12 V converters, the exact 48 V busbar DC load flow, rectifier
shelves with staging, UPS, feeds.  One-rack-per-busbar (ORv3) halls go through one compiled
pass (:func:`physics.kernels.chain.rack_chain`); other halls through the vectorized models of
:mod:`physics.power` (tap scatter/gather, shared busbars).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from physics.facility import Facility
from physics.power import (
    BusbarFlow,
    EfficiencyCurve,
    busbar_load_flow,
    converter_input_power,
    rectifier_staging,
)
from physics.warnings import ConvergenceWarning, CurveRangeWarning

__all__ = ["Electrical", "Topology", "electrical_chain"]

FloatArray = NDArray[np.float64]


def _indicator(index: NDArray[np.int64], size: int) -> sp.csr_matrix:
    """Sparse (size, n) matrix with a one at (index[i], i) for index[i] >= 0."""
    valid = np.flatnonzero(index >= 0)
    return sp.csr_matrix((np.ones(valid.size), (index[valid], valid)), shape=(size, index.size))


@dataclass(frozen=True)
class Topology:
    """Index structures derived once per facility."""

    facility: Facility

    @cached_property
    def unit_of_rack(self) -> sp.csr_matrix:
        return _indicator(self.facility.racks.unit, self.facility.units.count)

    @cached_property
    def busbar_of_rack(self) -> sp.csr_matrix:
        return _indicator(self.facility.racks.busbar, self.facility.busbars.count)

    @cached_property
    def ups_of_busbar(self) -> sp.csr_matrix:
        return _indicator(self.facility.busbars.ups, len(self.facility.ups.ids))

    @cached_property
    def feed_of_ups(self) -> sp.csr_matrix:
        return _indicator(self.facility.ups.feed, len(self.facility.feeds.ids))

    @cached_property
    def workload_share_of_rack(self) -> sp.csr_matrix:
        """(R, J) share of each workload's power given to each rack."""
        return self.facility.workloads.share.T.tocsr()

    @cached_property
    def max_taps(self) -> int:
        return int(self.facility.busbars.segment_resistance.shape[1])

    @cached_property
    def rack_per_busbar(self) -> bool:
        """Each busbar serves exactly one rack, in rack order, with all taps used (ORv3)."""
        racks = self.facility.racks
        return bool(
            racks.count == self.facility.busbars.count
            and np.array_equal(racks.busbar, np.arange(racks.count))
            and np.all(racks.taps == self.max_taps)
        )

    @cached_property
    def tap_slots(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(flat tap slot, rack of that tap, start offset of each rack) over all taps."""
        racks = self.facility.racks
        rack_of_tap = np.repeat(np.arange(racks.count), racks.taps)
        starts = np.concatenate([[0], np.cumsum(racks.taps)[:-1]])
        within = np.arange(rack_of_tap.size) - starts[rack_of_tap]
        slot = racks.busbar[rack_of_tap] * self.max_taps + racks.first_tap[rack_of_tap] + within
        return slot.astype(np.int64), rack_of_tap, starts.astype(np.int64)


@dataclass
class Electrical:
    """Result of the electrical chain for one chunk (arrays (T, ·))."""

    rack_bus_power: FloatArray
    rack_loss: FloatArray
    rack_tap_voltage: FloatArray
    converter_loss: FloatArray
    busbar_loss: FloatArray
    finite_busbar_loss: FloatArray
    """``busbar_loss`` with NaN (collapsed busbars) as 0 [W]."""
    busbar_min_voltage: FloatArray
    busbar_current: FloatArray
    collapsed: NDArray[np.bool_]
    rectifier_loss: FloatArray
    rectifiers_active: FloatArray
    shelf_output: FloatArray
    shelf_overloaded: NDArray[np.bool_]
    ups_output: FloatArray
    ups_input: FloatArray
    ups_loss: FloatArray


@dataclass
class RackLosses:
    """Losses of one chunk, arrays ``(T, R)`` (``(T, B)`` for the shelf output).

    Attributes
    ----------
    converter_loss
        Loss of each rack's 48 → 12 V converters [W].
    shelf_output
        DC output of each busbar's power shelf, NaN on collapsed busbars [W].
    rectifier_loss
        Loss of each power shelf [W].
    rack_loss
        Heat of each rack's share of the conversion (converters, busbar, shelf) [W].
    finite_busbar_loss
        Busbar resistive loss with NaN (collapsed) as 0 [W].
    """

    converter_loss: FloatArray
    shelf_output: FloatArray
    rectifier_loss: FloatArray
    rack_loss: FloatArray
    finite_busbar_loss: FloatArray


@dataclass
class _Busbars:
    """The chain from the racks to the shelves' AC input, per step (T, R) and (T, B)."""

    bus_power: FloatArray
    rack_tap_voltage: FloatArray
    min_voltage: FloatArray
    source_current: FloatArray
    loss: FloatArray
    collapsed: NDArray[np.bool_]
    rectifier_input: FloatArray
    rectifiers_active: FloatArray
    overloaded: NDArray[np.bool_]
    losses: RackLosses | None = None
    """The losses computed by the compiled pass (None: computed by :func:`electrical_chain`)."""


def _stage_up_fractions(facility: Facility) -> FloatArray:
    """Stage-up fraction of each busbar's shelf: the first of its shelf curve's busbars, as
    the vectorized path passes one per curve [-]."""
    bus = facility.busbars
    fractions = np.array(bus.stage_up_fraction, dtype=float)
    for index in range(len(facility.shelf_curves)):
        cols = np.flatnonzero(bus.shelf_curve == index)
        if cols.size:
            fractions[cols] = bus.stage_up_fraction[cols][0]
    return fractions


def _warn_clamped(curves: list[EfficiencyCurve], peaks: FloatArray) -> None:
    """One CurveRangeWarning per curve evaluated above its last point, as the vectorized
    models emit (``simulate`` counts them)."""
    for curve, peak in zip(curves, peaks, strict=False):
        if peak > -np.inf:
            warnings.warn(
                f"efficiency curve evaluated above its last load fraction "
                f"{curve.load_fraction[-1]:g} (max {peak:.4g}); efficiency held at "
                f"{curve.efficiency[-1]:g}",
                CurveRangeWarning,
                stacklevel=3,
            )


def _compiled_busbars(facility: Facility, topology: Topology, rack_power: FloatArray) -> _Busbars:
    """Converters, busbars and shelves of a one-rack-per-busbar hall in one compiled pass."""
    # imported on first use: importing Numba takes ~0.5 s (see physics.power)
    from physics.kernels.chain import PackedCurves, rack_chain, rack_losses

    racks, bus = facility.racks, facility.busbars
    if np.any(bus.nominal_voltage <= 0.0):
        raise ValueError("source_voltage must be > 0 V")
    if np.any(bus.segment_resistance < 0.0):
        raise ValueError("tap_power and segment_resistance must be >= 0")
    tolerance, max_iterations = 1e-9, 50  # busbar_load_flow's defaults
    result = rack_chain(
        rack_power,
        (racks.design_power.astype(float), racks.converter.astype(np.int64), racks.taps * 1.0),
        (
            np.ascontiguousarray(bus.segment_resistance.T, dtype=float),
            bus.nominal_voltage.astype(float),
            bus.psu_rating.astype(float),
            bus.psu_count.astype(float),
            bus.redundancy.astype(float),
            _stage_up_fractions(facility),
            bus.shelf_curve.astype(np.int64),
        ),
        (PackedCurves.of(facility.converter_curves), PackedCurves.of(facility.shelf_curves)),
        tolerance,
        max_iterations,
    )
    _warn_clamped(facility.converter_curves, result.converter_peak)
    _warn_clamped(facility.shelf_curves, result.shelf_peak)
    unresolved = int(np.count_nonzero(result.state == 1))
    if unresolved:
        warnings.warn(
            f"busbar load flow: {unresolved} busbar(s) did not converge to "
            f"{tolerance:g}·V_source in {max_iterations} sweeps (load close to voltage "
            "collapse); their results are the last iterate",
            ConvergenceWarning,
            stacklevel=3,
        )
    return _Busbars(
        losses=RackLosses(
            *rack_losses(
                rack_power,
                result.bus_power,
                result.loss,
                result.rectifier_input,
                result.source_current,
                bus.nominal_voltage,
            )
        ),
        bus_power=result.bus_power,
        rack_tap_voltage=result.min_voltage,
        min_voltage=result.min_voltage,
        source_current=result.source_current,
        loss=result.loss,
        collapsed=result.state == 2,
        rectifier_input=result.rectifier_input,
        rectifiers_active=result.active,
        overloaded=result.overloaded,
    )


def _vectorized_busbars(facility: Facility, topology: Topology, rack_power: FloatArray) -> _Busbars:
    """Converters, busbars and shelves of any hall by the vectorized models."""
    racks, bus = facility.racks, facility.busbars
    steps = rack_power.shape[0]
    bus_power = np.empty_like(rack_power)
    for index, curve in enumerate(facility.converter_curves):
        cols = np.flatnonzero(racks.converter == index)
        if cols.size:
            bus_power[:, cols] = converter_input_power(
                rack_power[:, cols], racks.design_power[cols], curve
            )
    shape = (steps, bus.count, topology.max_taps)
    flow: BusbarFlow
    if topology.rack_per_busbar:  # a broadcast view, no scatter/gather
        tap_power = np.broadcast_to((bus_power / racks.taps)[:, :, np.newaxis], shape)
        flow = busbar_load_flow(bus.nominal_voltage, bus.segment_resistance, tap_power)
        rack_tap_voltage = flow.min_voltage
    else:
        slot, rack_of_tap, starts = topology.tap_slots
        scattered = np.zeros((steps, bus.count * topology.max_taps))
        scattered[:, slot] = bus_power[:, rack_of_tap] / racks.taps[rack_of_tap]
        flow = busbar_load_flow(
            bus.nominal_voltage, bus.segment_resistance, scattered.reshape(shape)
        )
        del scattered
        tap_voltage = flow.tap_voltage.reshape(steps, -1)[:, slot]
        rack_tap_voltage = np.minimum.reduceat(tap_voltage, starts, axis=1)
    shelf_output = bus.nominal_voltage * flow.source_current
    rectifier_input = np.empty_like(shelf_output)
    rectifiers_active = np.empty_like(shelf_output)
    overloaded = np.empty(shelf_output.shape, dtype=bool)
    for index, curve in enumerate(facility.shelf_curves):
        cols = np.flatnonzero(bus.shelf_curve == index)
        if not cols.size:
            continue
        result = rectifier_staging(
            np.nan_to_num(shelf_output[:, cols], nan=0.0),
            bus.psu_rating[cols],
            bus.psu_count[cols],
            bus.redundancy[cols],
            curve,
            stage_up_fraction=float(bus.stage_up_fraction[cols][0]),
        )
        rectifier_input[:, cols] = result.input_power
        rectifiers_active[:, cols] = result.active
        overloaded[:, cols] = result.overloaded
    return _Busbars(
        bus_power=bus_power,
        rack_tap_voltage=rack_tap_voltage,
        min_voltage=flow.min_voltage,
        source_current=flow.source_current,
        loss=flow.loss,
        collapsed=flow.collapsed,
        rectifier_input=rectifier_input,
        rectifiers_active=rectifiers_active,
        overloaded=overloaded,
    )


def _losses(
    facility: Facility, topology: Topology, rack_power: FloatArray, chain: _Busbars
) -> RackLosses:
    """Converter, shelf and in-rack losses of any hall (NumPy)."""
    racks, bus = facility.racks, facility.busbars
    bus_power = chain.bus_power
    converter_loss = bus_power - rack_power
    shelf_output = bus.nominal_voltage * chain.source_current
    rectifier_loss = chain.rectifier_input - np.nan_to_num(shelf_output, nan=0.0)
    # in-rack losses (converters, busbar, shelf) heat the rack air; shared busbars split their
    # busbar and shelf losses over their racks in proportion to power
    in_rack = np.nan_to_num(chain.loss + rectifier_loss, nan=0.0)
    if topology.rack_per_busbar:  # each rack's share is 1 (0 at zero power): no gather
        rack_loss = converter_loss + np.where(bus_power > 0, in_rack, 0.0)
    else:
        bus_total = (topology.busbar_of_rack @ bus_power.T).T
        share = bus_power / np.where(bus_total > 0, bus_total, 1.0)[:, racks.busbar]
        rack_loss = converter_loss + share * in_rack[:, racks.busbar]
    return RackLosses(
        converter_loss=converter_loss,
        shelf_output=shelf_output,
        rectifier_loss=rectifier_loss,
        rack_loss=rack_loss,
        finite_busbar_loss=np.nan_to_num(chain.loss, nan=0.0),
    )


def electrical_chain(
    facility: Facility, topology: Topology, rack_power: FloatArray, *, compiled: bool = True
) -> Electrical:
    """Electrical chain for rack IT power.

    Parameters
    ----------
    facility
        Compiled facility.
    topology
        Its index structures.
    rack_power
        IT power of each rack, shape (T, R) [W].
    compiled
        Use the compiled one-pass kernel on one-rack-per-busbar halls (False: the vectorized
        models, kept to test the kernel against).

    Returns
    -------
    Electrical
        Powers [W], losses [W], voltages [V], currents [A] and flags of the chunk.
    """
    if compiled and topology.rack_per_busbar:
        chain = _compiled_busbars(facility, topology, rack_power)
    else:
        chain = _vectorized_busbars(facility, topology, rack_power)
    bus_power, rectifier_input = chain.bus_power, chain.rectifier_input
    if chain.losses is not None:  # the compiled pass: the same values, in one pass
        losses = chain.losses
    else:
        losses = _losses(facility, topology, rack_power, chain)
    ups_output = (topology.ups_of_busbar @ rectifier_input.T).T
    ups_input = np.empty_like(ups_output)
    for index, curve in enumerate(facility.ups_curves):
        cols = np.flatnonzero(facility.ups.curve == index)
        if cols.size:
            ups_input[:, cols] = converter_input_power(
                ups_output[:, cols], facility.ups.rating[cols], curve
            )
    return Electrical(
        rack_bus_power=bus_power,
        rack_loss=losses.rack_loss,
        rack_tap_voltage=chain.rack_tap_voltage,
        converter_loss=losses.converter_loss,
        busbar_loss=chain.loss,
        finite_busbar_loss=losses.finite_busbar_loss,
        busbar_min_voltage=chain.min_voltage,
        busbar_current=chain.source_current,
        collapsed=chain.collapsed,
        rectifier_loss=losses.rectifier_loss,
        rectifiers_active=chain.rectifiers_active,
        shelf_output=losses.shelf_output,
        shelf_overloaded=chain.overloaded,
        ups_output=ups_output,
        ups_input=ups_input,
        ups_loss=ups_input - ups_output,
    )
