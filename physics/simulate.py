"""Coupled simulation of a facility over time: ``simulate(facility, schedule, series)``.

Per step, in order (all racks and steps of a chunk at once, no loop over racks):

1. rack utilization from the power given to each workload; compute power from utilization;
2. the electrical chain from the IT load upward: 48→12 V converters, the exact 48 V busbar
   DC load flow, rectifier shelves with staging, transformer/UPS, feeds;
3. rack air heat (fans, the air-side share of compute heat and the in-rack conversion losses)
   through the recirculation model to inlet and outlet temperatures; server fans speed up above
   their knee, which changes IT power, so steps 2–3 repeat until fan power settles (usually one
   pass: no inlet above the knee);
4. cooling units (airflow, fan power, coil load), CDUs (loop temperatures), the chiller plant
   with economizer, pumps and tower fans;
5. PV, the facility battery, grid import, PUE.

Steps are quasi-steady: each step is an equilibrium (thermal transients live in
:func:`physics.airflow.room_heat_up`).  The time axis is processed in chunks so memory stays
bounded for 10,000 racks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import xarray as xr
from numpy.typing import NDArray

from physics.airflow import rack_cooling_index, server_fan_power
from physics.constants import (
    AIR_VOLUMETRIC_HEAT_CAPACITY,
    JOULES_PER_KWH,
    SECONDS_PER_HOUR,
    WATTS_PER_KILOWATT,
)
from physics.facility import Facility
from physics.liquid import cdu_temperatures
from physics.plant import plant_performance
from physics.power import (
    bbu_ride_through,
    busbar_load_flow,
    converter_input_power,
    rectifier_staging,
)
from physics.psychrometrics import pressure_at_elevation, wet_bulb_temperature
from physics.schedule import Schedule, step_seconds
from physics.variables import annotate
from physics.warnings import CurveRangeWarning

FloatArray = NDArray[np.float64]

_CHUNK_BYTES = 2 * 2**20
"""Target size of one per-tap array in a chunk.  Small enough to stay in cache: the busbar
sweeps are memory-bound, and 2 MB chunks ran 1.8× faster than 256 MB ones (1,000 racks)."""

_MIN_CHUNK_STEPS = 8
"""Fewer steps per chunk and per-chunk overhead dominates (10,000 racks: 3 steps 1.36 M,
8 steps 1.71 M rack-steps/s)."""


def _indicator(index: NDArray[np.int64], size: int) -> sp.csr_matrix:
    """Sparse (size, n) matrix with a one at (index[i], i) for index[i] >= 0."""
    valid = np.flatnonzero(index >= 0)
    return sp.csr_matrix((np.ones(valid.size), (index[valid], valid)), shape=(size, index.size))


@dataclass(frozen=True)
class _Topology:
    """Index structures derived once per facility."""

    facility: Facility

    @cached_property
    def unit_of_rack(self) -> sp.csr_matrix:
        return _indicator(self.facility.racks.unit, self.facility.units.count)

    @cached_property
    def cdu_of_rack(self) -> sp.csr_matrix:
        return _indicator(self.facility.racks.cdu, self.facility.cdus.count)

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
class _Electrical:
    """Result of the electrical chain for one chunk (arrays (T, ·))."""

    rack_bus_power: FloatArray
    rack_loss: FloatArray
    rack_tap_voltage: FloatArray
    converter_loss: FloatArray
    busbar_loss: FloatArray
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


def _electrical(facility: Facility, topo: _Topology, rack_power: FloatArray) -> _Electrical:
    """Electrical chain for rack IT power (T, R) [W]."""
    racks, bus = facility.racks, facility.busbars
    steps = rack_power.shape[0]
    bus_power = np.empty_like(rack_power)
    for index, curve in enumerate(facility.converter_curves):
        cols = np.flatnonzero(racks.converter == index)
        if cols.size:
            bus_power[:, cols] = converter_input_power(
                rack_power[:, cols], racks.design_power[cols], curve
            )
    converter_loss = bus_power - rack_power
    shape = (steps, bus.count, topo.max_taps)
    if topo.rack_per_busbar:  # fast path: a broadcast view, no scatter/gather
        tap_power = np.broadcast_to((bus_power / racks.taps)[:, :, np.newaxis], shape)
        flow = busbar_load_flow(bus.nominal_voltage, bus.segment_resistance, tap_power)
        rack_tap_voltage = flow.min_voltage
    else:
        slot, rack_of_tap, starts = topo.tap_slots
        scattered = np.zeros((steps, bus.count * topo.max_taps))
        scattered[:, slot] = bus_power[:, rack_of_tap] / racks.taps[rack_of_tap]
        flow = busbar_load_flow(
            bus.nominal_voltage, bus.segment_resistance, scattered.reshape(shape)
        )
        del scattered
        tap_voltage = flow.tap_voltage.reshape(steps, -1)[:, slot]
        rack_tap_voltage = np.minimum.reduceat(tap_voltage, starts, axis=1)
    shelf_output = bus.nominal_voltage * flow.source_current
    busbar_loss = flow.loss
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
    rectifier_loss = rectifier_input - np.nan_to_num(shelf_output, nan=0.0)
    # in-rack losses (converters, busbar, shelf) heat the rack air; shared busbars split their
    # busbar and shelf losses over their racks in proportion to power
    bus_total = (topo.busbar_of_rack @ bus_power.T).T
    share = bus_power / np.where(bus_total > 0, bus_total, 1.0)[:, racks.busbar]
    rack_loss = (
        converter_loss
        + share * np.nan_to_num(busbar_loss + rectifier_loss, nan=0.0)[:, racks.busbar]
    )
    ups_output = (topo.ups_of_busbar @ rectifier_input.T).T
    ups_input = np.empty_like(ups_output)
    for index, curve in enumerate(facility.ups_curves):
        cols = np.flatnonzero(facility.ups.curve == index)
        if cols.size:
            ups_input[:, cols] = converter_input_power(
                ups_output[:, cols], facility.ups.rating[cols], curve
            )
    return _Electrical(
        rack_bus_power=bus_power,
        rack_loss=rack_loss,
        rack_tap_voltage=rack_tap_voltage,
        converter_loss=converter_loss,
        busbar_loss=busbar_loss,
        busbar_min_voltage=flow.min_voltage,
        busbar_current=flow.source_current,
        collapsed=flow.collapsed,
        rectifier_loss=rectifier_loss,
        rectifiers_active=rectifiers_active,
        shelf_output=shelf_output,
        shelf_overloaded=overloaded,
        ups_output=ups_output,
        ups_input=ups_input,
        ups_loss=ups_input - ups_output,
    )


def _chunk_steps(facility: Facility, topo: _Topology, chunk_steps: int | None) -> int:
    if chunk_steps is not None:
        return max(1, int(chunk_steps))
    width = max(facility.busbars.count * topo.max_taps, facility.racks.count, 1)
    return max(_MIN_CHUNK_STEPS, _CHUNK_BYTES // (8 * width))


def simulate(
    facility: Facility,
    schedule: Schedule,
    series: xr.Dataset,
    *,
    per_rack: bool = True,
    chunk_steps: int | None = None,
    fan_tolerance: float = 1.0,
    max_fan_iterations: int = 6,
) -> xr.Dataset:
    """Simulate ``facility`` operated by ``schedule`` under ``series``.

    Parameters
    ----------
    facility
        Compiled facility (SI arrays).
    schedule
        Decisions over the T steps of ``series``.
    series
        Exogenous series on a regular UTC ``time`` axis: ``outdoor_temperature`` [°C] and
        ``relative_humidity`` [%] (or ``wet_bulb_temperature`` [°C]); optional ``price``
        [USD/MWh], ``carbon_intensity`` [g/kWh], ``pv_capacity_factor`` [-].
    per_rack
        Keep per-rack time series (inlet, outlet, power, tap voltage) in the result; with
        ``False`` only facility-level series and per-rack extremes are kept (large sweeps).
    chunk_steps
        Steps processed at once (default: sized for ~256 MB per tap array).
    fan_tolerance
        Server fan power change [W] below which the fan/inlet iteration stops.
    max_fan_iterations
        Bound on that iteration.

    Returns
    -------
    xarray.Dataset
        Every variable with CF ``units`` and ``long_name`` attrs; dims ``time`` and, as
        relevant, ``rack``, ``unit``, ``cdu``, ``busbar``, ``ups``, ``feed``, ``workload``.
        ``attrs`` carry counts of clamped curve evaluations and non-converged steps.
    """
    time = series["time"].values
    steps = time.size
    step = step_seconds(time)
    schedule.check(facility, steps)
    topo = _Topology(facility)
    racks, units, cdus = facility.racks, facility.units, facility.cdus
    n_racks = racks.count
    air_path = facility.air_path

    wet_bulb = _wet_bulb(facility, series)
    chunk = _chunk_steps(facility, topo, chunk_steps)

    out: dict[str, FloatArray] = {}

    def store(name: str, start: int, values: Any, width: int | None = None) -> None:
        values = np.asarray(values, dtype=float)
        if name not in out:
            shape = (steps,) if values.ndim == 1 else (steps, values.shape[1])
            out[name] = np.empty(shape)
        out[name][start : start + values.shape[0]] = values

    fan_iterations_max = 0
    clamped_curves = 0
    unconverged_fans = 0
    # dynamic compute power per unit of workload power, per rack
    dynamic = racks.dynamic_power
    share_t = facility.workloads.share.T.tocsr()  # (R, J)
    for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        sl = slice(start, stop)
        workload_power = schedule.workload_power[sl]
        demand = np.asarray((share_t @ workload_power.T).T)  # (T, R) W above idle
        utilization = demand / np.where(dynamic > 0, dynamic, 1.0)
        overcommit = np.clip(utilization - 1.0, 0.0, None)
        utilization = np.clip(utilization, 0.0, 1.0)
        compute = racks.compute_design_power * (
            racks.idle_fraction + (1.0 - racks.idle_fraction) * utilization
        )
        nominal_fan = racks.design_power * racks.fan_fraction
        fan = np.broadcast_to(nominal_fan, compute.shape).copy()
        supply_rack = schedule.supply_temperature[sl][:, racks.unit]  # (T, R)
        liquid_heat = compute * racks.liquid_share
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CurveRangeWarning)
            for iteration in range(1, max_fan_iterations + 1):
                rack_power = compute + fan
                elec = _electrical(facility, topo, rack_power)
                air_heat = compute - liquid_heat + fan + elec.rack_loss
                inlet = air_path.inlet_temperature(supply_rack.T, air_heat.T).T
                new_fan = server_fan_power(
                    nominal_fan, inlet, racks.fan_knee_temperature, racks.fan_speed_slope
                )
                change = float(np.max(np.abs(new_fan - fan))) if fan.size else 0.0
                fan = new_fan
                fan_iterations_max = max(fan_iterations_max, iteration)
                if change < fan_tolerance:
                    break
            else:
                unconverged_fans += stop - start
            clamped_curves += sum(1 for w in caught if issubclass(w.category, CurveRangeWarning))
        # final state uses the last electrical/thermal pass (fan change below tolerance)
        outlet = inlet + air_heat / racks.capacity_flow
        it_power = rack_power.sum(axis=1)

        # cooling units
        rack_airflow = racks.capacity_flow / AIR_VOLUMETRIC_HEAT_CAPACITY
        demand_airflow = (topo.unit_of_rack @ rack_airflow) / (1.0 - units.bypass_fraction)
        flow_fraction = np.maximum(demand_airflow / units.airflow, units.minimum_airflow_fraction)
        # per-unit part-load polynomials: Σ_k c[u, k]·f_u^k
        powers = np.minimum(flow_fraction, 1.0)[:, np.newaxis] ** np.arange(5)
        crah_fan = units.fan_power * np.sum(units.fan_coefficients * powers, axis=1)
        crah_fan = np.broadcast_to(crah_fan, (stop - start, units.count))
        coil_load = (topo.unit_of_rack @ air_heat.T).T + crah_fan
        # CDUs (facility water = chilled water supply)
        chilled = schedule.chilled_water_temperature[sl]
        cdu_load = (topo.cdu_of_rack @ liquid_heat.T).T
        loop = cdu_temperatures(
            cdu_load, cdus.capacity, cdus.approach, cdus.coolant_delta_t, chilled[:, np.newaxis]
        )
        cdu_pump = np.broadcast_to(
            np.where(cdus.capacity > 0, cdus.pump_power, 0.0), (stop - start, cdus.count)
        )
        plant_load = (
            coil_load.sum(axis=1)
            + cdu_load.sum(axis=1)
            + cdu_pump.sum(axis=1)
            + elec.ups_loss.sum(axis=1)
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CurveRangeWarning)
            plant = plant_performance(facility.plant, plant_load, chilled, wet_bulb[sl], warn=False)
            clamped_curves += sum(1 for w in caught if issubclass(w.category, CurveRangeWarning))
        clamped_curves += int(np.count_nonzero(plant.clamped))
        cooling_power = crah_fan.sum(axis=1) + cdu_pump.sum(axis=1) + plant.total_power
        cooling_input = cooling_power / facility.mechanical_efficiency
        feed_power = (topo.feed_of_ups @ elec.ups_input.T).T
        feed_power[:, facility.cooling_feed] += cooling_input
        it_chain_loss = (
            elec.converter_loss.sum(axis=1)
            + np.nan_to_num(elec.busbar_loss, nan=0.0).sum(axis=1)
            + elec.rectifier_loss.sum(axis=1)
            + elec.ups_loss.sum(axis=1)
        )
        chain_loss = it_chain_loss + (cooling_input - cooling_power)

        store("it_power", start, it_power)
        store("server_fan_power", start, fan.sum(axis=1))
        store("converter_loss", start, elec.converter_loss.sum(axis=1))
        store("busbar_loss", start, np.nan_to_num(elec.busbar_loss, nan=0.0).sum(axis=1))
        store("rectifier_loss", start, elec.rectifier_loss.sum(axis=1))
        store("ups_loss", start, elec.ups_loss.sum(axis=1))
        store("power_chain_loss", start, chain_loss)
        store("cooling_power", start, cooling_power)
        store("plant_load", start, plant_load)
        store("chiller_power", start, plant.chiller_power)
        store("chillers_running", start, plant.chillers_running)
        store("tower_fan_power", start, plant.tower_fan_power)
        store("plant_pump_power", start, plant.pump_power)
        store("economizer_fraction", start, plant.economizer_fraction)
        store("plant_unmet_load", start, plant.unmet_load)
        store("facility_power_before_storage", start, feed_power.sum(axis=1))
        store("feed_power", start, feed_power)
        store("crah_airflow", start, np.broadcast_to(flow_fraction * units.airflow, crah_fan.shape))
        store("crah_airflow_demand", start, np.broadcast_to(demand_airflow, crah_fan.shape))
        store("crah_fan_power", start, crah_fan)
        store("crah_cooling_load", start, coil_load)
        store("cdu_load", start, cdu_load)
        store("cdu_supply_temperature", start, loop.supply_temperature)
        store("cdu_return_temperature", start, loop.return_temperature)
        store("cdu_pump_power", start, cdu_pump)
        store("busbar_min_voltage", start, elec.busbar_min_voltage)
        store("busbar_current", start, elec.busbar_current)
        store("busbar_collapsed", start, elec.collapsed)
        store("rectifiers_active", start, elec.rectifiers_active)
        store("shelf_output", start, elec.shelf_output)
        store("shelf_overloaded", start, elec.shelf_overloaded)
        store("ups_output", start, elec.ups_output)
        store("ups_input", start, elec.ups_input)
        store(
            "rack_overcommit", start, overcommit.max(axis=1) if n_racks else np.zeros(stop - start)
        )
        store("max_inlet_temperature", start, inlet.max(axis=1))
        store("mean_inlet_temperature", start, inlet.mean(axis=1))
        store("inlet_violation_count", start, (inlet > facility.inlet_limit + 1e-9).sum(axis=1))
        store("min_tap_voltage", start, elec.rack_tap_voltage.min(axis=1))
        rci_hi, rci_lo = rack_cooling_index(
            inlet,
            recommended=facility.inlet_envelope[0],
            allowable=facility.inlet_envelope[1],
            axis=1,
        )
        store("rci_hi", start, rci_hi)
        store("rci_lo", start, rci_lo)
        rise_before = (inlet - supply_rack).sum(axis=1)
        rise_total = (outlet - supply_rack).sum(axis=1)
        store("shi", start, rise_before / np.where(rise_total > 0, rise_total, np.nan))
        ride = bbu_ride_through(racks.bbu_energy, racks.bbu_power, rack_power)
        store("min_bbu_ride_through", start, ride.min(axis=1))
        store("rack_inlet_max", start, inlet.max(axis=0)[np.newaxis, :])  # reduced below
        if per_rack:
            store("rack_power", start, rack_power)
            store("rack_utilization", start, utilization)
            store("inlet_temperature", start, inlet)
            store("outlet_temperature", start, outlet)
            store("tap_voltage", start, elec.rack_tap_voltage)
            store("bbu_ride_through", start, ride)
    out.pop("rack_inlet_max")

    # storage and grid (sequential in time: whole horizon at once)
    pv_power = np.zeros(steps)
    if facility.pv_peak > 0:
        if "pv_capacity_factor" not in series:
            raise KeyError("the facility has PV but the series has no pv_capacity_factor")
        pv_power = facility.pv_peak * np.clip(series["pv_capacity_factor"].values, 0.0, 1.0)
    load = out["facility_power_before_storage"]
    battery = facility.battery
    if battery is not None:
        result = battery.integrate(schedule.battery_power, step)
        battery_power = np.asarray(result.power, dtype=float)
        soc = np.asarray(result.soc, dtype=float)
        throughput = float(np.sum(result.throughput))
        battery_clipped = np.asarray(result.clipped, dtype=float)
    else:
        battery_power = np.zeros(steps)
        soc = np.full(steps + 1, np.nan)
        throughput = 0.0
        battery_clipped = np.zeros(steps)
    net = load + battery_power
    pv_used = pv_power if facility.grid.export_allowed else np.minimum(pv_power, np.maximum(net, 0))
    grid = net - pv_used

    data_vars: dict[str, Any] = {}
    for name, values in out.items():
        if values.ndim == 1 and name != "facility_power_before_storage":
            data_vars[name] = ("time", values)
    data_vars["facility_power"] = ("time", load)
    data_vars["pv_power"] = ("time", pv_used)
    data_vars["pv_curtailed"] = ("time", pv_power - pv_used)
    data_vars["battery_power"] = ("time", battery_power)
    data_vars["battery_clipped"] = ("time", battery_clipped)
    data_vars["battery_soc"] = ("time", soc[1:])
    data_vars["grid_power"] = ("time", grid)
    data_vars["pue"] = ("time", load / out["it_power"])
    data_vars["wet_bulb_temperature"] = ("time", wet_bulb)
    data_vars["chilled_water_temperature"] = ("time", schedule.chilled_water_temperature)
    data_vars["supply_temperature"] = (("time", "unit"), schedule.supply_temperature)
    data_vars["workload_power"] = (("time", "workload"), schedule.workload_power)
    for name in ("crah_airflow", "crah_airflow_demand", "crah_fan_power", "crah_cooling_load"):
        data_vars[name] = (("time", "unit"), out[name])
    for name in ("cdu_load", "cdu_supply_temperature", "cdu_return_temperature", "cdu_pump_power"):
        data_vars[name] = (("time", "cdu"), out[name])
    for name in (
        "busbar_min_voltage",
        "busbar_current",
        "busbar_collapsed",
        "rectifiers_active",
        "shelf_output",
        "shelf_overloaded",
    ):
        data_vars[name] = (("time", "busbar"), out[name])
    data_vars["ups_output"] = (("time", "ups"), out["ups_output"])
    data_vars["ups_input"] = (("time", "ups"), out["ups_input"])
    data_vars["feed_power"] = (("time", "feed"), out["feed_power"])
    if per_rack:
        for name in (
            "rack_power",
            "rack_utilization",
            "inlet_temperature",
            "outlet_temperature",
            "tap_voltage",
            "bbu_ride_through",
        ):
            data_vars[name] = (("time", "rack"), out[name])
    for name in ("price", "carbon_intensity", "dr_import_cap", "outdoor_temperature"):
        if name in series:
            data_vars[name] = ("time", series[name].values)
    coords = {
        "time": time,
        "rack": racks.ids,
        "rack_row": ("rack", racks.row),
        "rack_position": ("rack", racks.position),
        "unit": units.ids,
        "cdu": cdus.ids,
        "busbar": facility.busbars.ids,
        "ups": facility.ups.ids,
        "feed": facility.feeds.ids,
        "workload": facility.workloads.ids,
    }
    ds = xr.Dataset(data_vars, coords=coords)
    annotate(ds)
    ds.attrs.update(
        {
            "title": f"dctwin simulation of {facility.name}",
            "facility": facility.name,
            "step_seconds": step,
            "inlet_limit": facility.inlet_limit,
            "facility_water_limit": facility.facility_water_limit,
            "contract_capacity": facility.grid.contract_capacity,
            "battery_throughput_joules": throughput,
            "clamped_curve_evaluations": clamped_curves,
            "fan_iterations_max": fan_iterations_max,
            "unconverged_fan_steps": unconverged_fans,
            "Conventions": "CF-1.10",
        }
    )
    ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
    return ds


def _wet_bulb(facility: Facility, series: xr.Dataset) -> FloatArray:
    if "wet_bulb_temperature" in series:
        return np.asarray(series["wet_bulb_temperature"].values, dtype=float)
    missing = [n for n in ("outdoor_temperature", "relative_humidity") if n not in series]
    if missing:
        raise KeyError(
            "simulate needs wet_bulb_temperature or outdoor_temperature and relative_humidity "
            f"in the series; missing: {', '.join(missing)}"
        )
    pressure = pressure_at_elevation(facility.elevation)
    return np.asarray(
        wet_bulb_temperature(
            series["outdoor_temperature"].values, series["relative_humidity"].values, pressure
        ),
        dtype=float,
    )


def summarize(ds: xr.Dataset) -> dict[str, Any]:
    """Headline figures of a simulation (the ``--json`` output of ``dctwin simulate``).

    Energies in kWh, temperatures in °C, voltages in V, powers in kW, costs in the currency.
    """
    step = float(ds.attrs["step_seconds"])

    def energy(name: str) -> float:
        return float(ds[name].sum()) * step / JOULES_PER_KWH

    it = energy("it_power")
    facility = energy("facility_power")
    summary: dict[str, Any] = {
        "steps": int(ds.sizes["time"]),
        "step_seconds": step,
        "racks": int(ds.sizes["rack"]),
        "it_energy_kwh": it,
        "cooling_energy_kwh": energy("cooling_power"),
        "facility_energy_kwh": facility,
        "grid_energy_kwh": energy("grid_power"),
        "pv_energy_kwh": energy("pv_power"),
        "power_chain_loss_kwh": energy("power_chain_loss"),
        "pue": facility / it if it > 0 else float("nan"),
        "peak_grid_kw": float(ds["grid_power"].max()) / WATTS_PER_KILOWATT,
        "max_inlet_temperature_c": float(ds["max_inlet_temperature"].max()),
        "inlet_limit_c": float(ds.attrs["inlet_limit"]),
        "inlet_violations": int(ds["inlet_violation_count"].sum()),
        "min_busbar_voltage_v": float(ds["busbar_min_voltage"].min()),
        "min_rci_hi_percent": float(ds["rci_hi"].min()),
        "economizer_hours": float(ds["economizer_fraction"].sum()) * step / SECONDS_PER_HOUR,
        "clamped_curve_evaluations": int(ds.attrs["clamped_curve_evaluations"]),
    }
    if "price" in ds:
        summary["energy_cost"] = float(
            (ds["grid_power"] * ds["price"]).sum() * step / JOULES_PER_KWH / 1e3
        )  # price per MWh: kWh / 1e3
    if "carbon_intensity" in ds:
        summary["carbon_kg"] = float(
            (ds["grid_power"] * ds["carbon_intensity"]).sum() * step / JOULES_PER_KWH / 1e3
        )  # g per kWh: g / 1e3 = kg
    return summary
