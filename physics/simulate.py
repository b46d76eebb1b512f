"""Coupled simulation of a facility over time: ``simulate(facility, schedule, series)``.

Per step, in order (all racks and steps of a chunk at once, no loop over racks):

1. rack utilization from the power given to each workload; compute power from utilization;
2. the electrical chain from the IT load upward: 48→12 V converters, the exact 48 V busbar
   DC load flow, rectifier shelves with staging, transformer/UPS, feeds;
3. rack air heat (fans, the air-side share of compute heat and the in-rack conversion losses)
   through the recirculation model to inlet and outlet temperatures; server fans speed up above
   their knee (more airflow, more fan power), which changes IT power, so steps 2–3 repeat
   until fan power settles (usually one pass: no inlet above the knee);
4. cooling units (airflow, fan power, coil load), the liquid path (:mod:`physics.liquid`:
   CDUs with flows, cold-plate case temperatures, the warm-water facility loop), the chiller
   plant with economizer, pumps and tower fans;
5. PV, the facility battery, grid import, PUE.

Steps are quasi-steady: each step is an equilibrium (thermal transients live in
:func:`physics.airflow.room_heat_up`).  The time axis is processed in chunks so memory stays
bounded for 10,000 racks.

In the code, :func:`simulate` orchestrates: ``_simulate_chunk`` is the kernel of one chunk of
steps (``_rack_state`` steps 1–3, ``_cooling`` step 4, ``_rack_indices`` the extremes and
indices over the racks), ``_storage_and_grid`` is step 5 over the whole horizon, and
``_data_vars`` and ``_dataset`` assemble the result with CF attributes from
:mod:`physics.variables`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.airflow import fan_power_at_airflow, rack_cooling_index, server_airflow_fraction
from physics.constants import (
    AIR_VOLUMETRIC_HEAT_CAPACITY,
    JOULES_PER_KWH,
    SECONDS_PER_HOUR,
    WATTS_PER_KILOWATT,
)
from physics.electrical import Electrical, Topology, electrical_chain
from physics.electrical.shared import chain_pass
from physics.facility import Facility
from physics.liquid.hall import liquid_hall
from physics.plant import plant_performance
from physics.power import (
    bbu_ride_through,
)
from physics.psychrometrics import outdoor_temperatures
from physics.runtime.memo import LastSeen, digest
from physics.runtime.stream import WINDOW_BYTES, SeriesWriter
from physics.schedule import Schedule, step_seconds
from physics.variables import annotate, kept, selection
from physics.warnings import CurveRangeWarning

FloatArray = NDArray[np.float64]

_CHUNK_BYTES = 2 * 2**20
"""Target size of one per-tap array in a chunk.  Small enough to stay in cache: the busbar
sweeps are memory-bound, and 2 MB chunks ran 1.8× faster than 256 MB ones (1,000 racks)."""

_MIN_CHUNK_STEPS = 8
"""Fewer steps per chunk and per-chunk overhead dominates (10,000 racks: 3 steps 1.36 M,
8 steps 1.71 M rack-steps/s)."""


def _chunk_steps(facility: Facility, topology: Topology, chunk_steps: int | None) -> int:
    if chunk_steps is not None:
        return max(1, int(chunk_steps))
    if topology.rack_per_busbar:
        # the compiled chain writes no per-tap array: size the (T, R) arrays at 1 MB, which
        # spreads the per-chunk Python overhead over more steps (1,000 racks: 131 steps a
        # chunk instead of 32; docs/benchmarks.md)
        width = max(2 * facility.racks.count, 1)
    else:
        width = max(facility.busbars.count * topology.max_taps, facility.racks.count, 1)
    return max(_MIN_CHUNK_STEPS, _CHUNK_BYTES // (8 * width))


@dataclass
class _Diagnostics:
    """Counts over all chunks, reported in the result's attrs."""

    fan_iterations_max: int = 0
    clamped_curves: int = 0
    clamped_chiller_steps: int = 0
    clamped_trim_chiller_steps: int = 0
    unconverged_fans: int = 0


@dataclass
class _Racks:
    """Rack state of one chunk after the fan/inlet iteration (arrays (T, R))."""

    utilization: FloatArray
    overcommit: FloatArray
    rack_power: FloatArray
    fan: FloatArray
    supply: FloatArray
    liquid_heat: FloatArray
    air_heat: FloatArray
    inlet: FloatArray
    outlet: FloatArray
    airflow_fraction: FloatArray
    electrical: Electrical


_WARNING_CAPTURE = threading.RLock()
"""Held while a simulation catches the curve warnings it counts: ``warnings.catch_warnings``
swaps the process-wide filters, so two simulations in threads (the live twin's concurrent
re-plans, the UI's what-if jobs) restored each other's and a warning escaped the count (raised
under an error filter, printed otherwise)."""


@contextmanager
def _caught_curve_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings of the block (curve warnings every time), one thread at a time."""
    with _WARNING_CAPTURE, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CurveRangeWarning)
        yield caught


def _count_clamped(caught: list[warnings.WarningMessage]) -> int:
    return sum(1 for w in caught if issubclass(w.category, CurveRangeWarning))


def _rack_state(
    facility: Facility,
    topology: Topology,
    schedule: Schedule,
    window: slice,
    diagnostics: _Diagnostics,
    fan_tolerance: float,
    max_fan_iterations: int,
) -> _Racks:
    """Steps 1–3 for the steps ``window``: utilization, the electrical chain and the rack air
    temperatures, repeated until server fan power settles."""
    racks, air_path = facility.racks, facility.air_path
    # dynamic compute power per unit of workload power, per rack
    dynamic = racks.dynamic_power
    workload_power = schedule.workload_power[window]
    demand = np.asarray(
        (topology.workload_share_of_rack @ workload_power.T).T
    )  # (T, R) W above idle
    utilization = demand / np.where(dynamic > 0, dynamic, 1.0)
    overcommit = np.clip(utilization - 1.0, 0.0, None)
    utilization = np.clip(utilization, 0.0, 1.0)
    compute = racks.compute_design_power * (
        racks.idle_fraction + (1.0 - racks.idle_fraction) * utilization
    )
    nominal_fan = racks.design_power * racks.fan_fraction
    fan = np.broadcast_to(nominal_fan, compute.shape).copy()
    supply_rack = schedule.supply_temperature[window][:, racks.unit]  # (T, R)
    liquid_heat = compute * racks.liquid_share
    with _caught_curve_warnings() as caught:
        for iteration in range(1, max_fan_iterations + 1):
            rack_power = compute + fan
            electrical = chain_pass(electrical_chain, facility, topology, rack_power, caught)
            air_heat = compute - liquid_heat + fan + electrical.rack_loss
            inlet = air_path.inlet_temperature(supply_rack.T, air_heat.T).T
            airflow_fraction = server_airflow_fraction(
                inlet, racks.fan_knee_temperature, racks.fan_speed_slope
            )
            new_fan = fan_power_at_airflow(nominal_fan, airflow_fraction, racks.fan_power_exponent)
            change = float(np.max(np.abs(new_fan - fan))) if fan.size else 0.0
            fan = new_fan
            diagnostics.fan_iterations_max = max(diagnostics.fan_iterations_max, iteration)
            if change < fan_tolerance:
                break
        else:
            diagnostics.unconverged_fans += window.stop - window.start
        diagnostics.clamped_curves += _count_clamped(caught)
    # final state uses the last electrical/thermal pass (fan change below tolerance) and its
    # airflow fraction; the recirculation pattern keeps the design airflow, the outlet sees
    # the actual airflow
    return _Racks(
        utilization=utilization,
        overcommit=overcommit,
        rack_power=rack_power,
        fan=fan,
        supply=supply_rack,
        liquid_heat=liquid_heat,
        air_heat=air_heat,
        inlet=inlet,
        outlet=inlet + air_heat / (racks.capacity_flow * airflow_fraction),
        airflow_fraction=airflow_fraction,
        electrical=electrical,
    )


def _cooling(
    facility: Facility,
    topology: Topology,
    schedule: Schedule,
    window: slice,
    weather: tuple[FloatArray, FloatArray],
    state: _Racks,
    diagnostics: _Diagnostics,
    per_rack: bool,
) -> dict[str, Any]:
    """Step 4 for the steps ``window``: cooling units, the liquid path (CDUs, cold plates,
    facility loop), the chiller plant and the feeds."""
    racks, units = facility.racks, facility.units
    electrical = state.electrical
    rack_airflow = racks.capacity_flow / AIR_VOLUMETRIC_HEAT_CAPACITY * state.airflow_fraction
    demand_airflow = (topology.unit_of_rack @ rack_airflow.T).T / (1.0 - units.bypass_fraction)
    flow_fraction = np.maximum(demand_airflow / units.airflow, units.minimum_airflow_fraction)
    # per-unit part-load polynomials: Σ_k c[u, k]·f_u^k
    powers = np.minimum(flow_fraction, 1.0)[:, :, np.newaxis] ** np.arange(5)
    crah_fan = units.fan_power * np.sum(units.fan_coefficients * powers, axis=2)
    coil_load = (topology.unit_of_rack @ state.air_heat.T).T + crah_fan
    chilled = schedule.chilled_water_temperature[window]
    liquid, cdu = liquid_hall(
        facility.cdus,
        racks.liquid,
        facility.cold_plates,
        facility.facility_loop,
        state.liquid_heat,
        chilled,
        weather,
        per_rack,
    )
    trim_clamped = int(liquid.pop("_clamped"))
    diagnostics.clamped_trim_chiller_steps += trim_clamped
    diagnostics.clamped_curves += trim_clamped
    loop_power = liquid.pop("_loop_power")
    plant_load = (
        coil_load.sum(axis=1) + liquid.pop("_chilled_heat") + electrical.ups_loss.sum(axis=1)
    )
    with _caught_curve_warnings() as caught:
        plant = plant_performance(facility.plant, plant_load, chilled, weather[1], warn=False)
        diagnostics.clamped_curves += _count_clamped(caught)
    diagnostics.clamped_curves += int(np.count_nonzero(plant.clamped))
    diagnostics.clamped_chiller_steps += int(np.count_nonzero(plant.clamped))
    cooling_power = (
        crah_fan.sum(axis=1) + cdu.pump_power.sum(axis=1) + plant.total_power + loop_power
    )
    cooling_input = cooling_power / facility.mechanical_efficiency
    feed_power = (topology.feed_of_ups @ electrical.ups_input.T).T
    feed_power[:, facility.cooling_feed] += cooling_input
    it_chain_loss = (
        electrical.converter_loss.sum(axis=1)
        + electrical.finite_busbar_loss.sum(axis=1)
        + electrical.rectifier_loss.sum(axis=1)
        + electrical.ups_loss.sum(axis=1)
    )
    return {
        "power_chain_loss": it_chain_loss + (cooling_input - cooling_power),
        "cooling_power": cooling_power,
        "plant_load": plant_load,
        "chiller_power": plant.chiller_power,
        "chillers_running": plant.chillers_running,
        "tower_fan_power": plant.tower_fan_power,
        "plant_pump_power": plant.pump_power,
        "economizer_fraction": plant.economizer_fraction,
        "plant_unmet_load": plant.unmet_load,
        "facility_power_before_storage": feed_power.sum(axis=1),
        "feed_power": feed_power,
        "crah_airflow": flow_fraction * units.airflow,
        "crah_airflow_demand": demand_airflow,
        "crah_fan_power": crah_fan,
        "crah_cooling_load": coil_load,
        **liquid,
    }


def _rack_indices(facility: Facility, state: _Racks, per_rack: bool) -> dict[str, Any]:
    """Per-step extremes and indices over the racks (and the per-rack series if kept)."""
    racks, electrical, inlet = facility.racks, state.electrical, state.inlet
    steps = inlet.shape[0]
    rci_hi, rci_lo = rack_cooling_index(
        inlet,
        recommended=facility.inlet_envelope[0],
        allowable=facility.inlet_envelope[1],
        axis=1,
    )
    rise_before = (inlet - state.supply).sum(axis=1)
    rise_total = (state.outlet - state.supply).sum(axis=1)
    ride = bbu_ride_through(racks.bbu_energy, racks.bbu_power, state.rack_power)
    out = {
        "rack_overcommit": state.overcommit.max(axis=1) if racks.count else np.zeros(steps),
        "max_inlet_temperature": inlet.max(axis=1),
        "mean_inlet_temperature": inlet.mean(axis=1),
        "inlet_violation_count": (inlet > facility.inlet_limit + 1e-9).sum(axis=1),
        "min_tap_voltage": electrical.rack_tap_voltage.min(axis=1),
        "rci_hi": rci_hi,
        "rci_lo": rci_lo,
        "shi": rise_before / np.where(rise_total > 0, rise_total, np.nan),
        "min_bbu_ride_through": ride.min(axis=1),
    }
    if per_rack:
        out["rack_power"] = state.rack_power
        out["rack_utilization"] = state.utilization
        out["inlet_temperature"] = inlet
        out["outlet_temperature"] = state.outlet
        out["tap_voltage"] = electrical.rack_tap_voltage
        out["bbu_ride_through"] = ride
    return out


def _simulate_chunk(
    facility: Facility,
    topology: Topology,
    schedule: Schedule,
    window: slice,
    weather: tuple[FloatArray, FloatArray],
    diagnostics: _Diagnostics,
    *,
    per_rack: bool,
    fan_tolerance: float,
    max_fan_iterations: int,
) -> dict[str, Any]:
    """Steps 1–4 for the steps ``window``: every per-step output by name, arrays (T) or (T, N)."""
    state = _rack_state(
        facility, topology, schedule, window, diagnostics, fan_tolerance, max_fan_iterations
    )
    electrical = state.electrical
    cooling = _cooling(facility, topology, schedule, window, weather, state, diagnostics, per_rack)
    return {
        "it_power": state.rack_power.sum(axis=1),
        "server_fan_power": state.fan.sum(axis=1),
        "converter_loss": electrical.converter_loss.sum(axis=1),
        "busbar_loss": electrical.finite_busbar_loss.sum(axis=1),
        "rectifier_loss": electrical.rectifier_loss.sum(axis=1),
        "ups_loss": electrical.ups_loss.sum(axis=1),
        **cooling,
        "busbar_min_voltage": electrical.busbar_min_voltage,
        "busbar_current": electrical.busbar_current,
        "busbar_collapsed": electrical.collapsed,
        "rectifiers_active": electrical.rectifiers_active,
        "shelf_output": electrical.shelf_output,
        "shelf_overloaded": electrical.shelf_overloaded,
        "ups_output": electrical.ups_output,
        "ups_input": electrical.ups_input,
        **_rack_indices(facility, state, per_rack),
    }


def _store(
    out: dict[str, FloatArray],
    values: dict[str, Any],
    start: int,
    steps: int,
    single: Collection[str],
) -> None:
    """Copy one chunk's ``values`` into the whole-horizon arrays ``out`` from step ``start``.

    The series named in ``single`` are kept in float32 (flags among them as bool), the others
    in float64."""
    for name, part in values.items():
        array = np.asarray(part)
        if name not in out:
            shape = (steps,) if array.ndim == 1 else (steps, array.shape[1])
            dtype: Any = float
            if name in single:
                dtype = bool if array.dtype == bool else np.float32
            out[name] = np.empty(shape, dtype=dtype)
        out[name][start : start + array.shape[0]] = array


@dataclass
class _Storage:
    """Step 5 over the whole horizon: PV, battery and grid (arrays (T,))."""

    pv_power: FloatArray
    pv_used: FloatArray
    battery_power: FloatArray
    battery_soc: FloatArray
    """(T + 1,): the state of charge before every step and after the last."""
    battery_clipped: FloatArray
    throughput: float
    grid_power: FloatArray


def _storage_and_grid(
    facility: Facility, schedule: Schedule, series: xr.Dataset, load: FloatArray, step: float
) -> _Storage:
    """PV, the facility battery and grid import (sequential in time: whole horizon at once)."""
    steps = load.size
    pv_power = np.zeros(steps)
    if facility.pv_peak > 0:
        if "pv_capacity_factor" not in series:
            raise KeyError("the facility has PV but the series has no pv_capacity_factor")
        pv_power = facility.pv_peak * np.clip(series["pv_capacity_factor"].values, 0.0, 1.0)
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
    return _Storage(
        pv_power=pv_power,
        pv_used=pv_used,
        battery_power=battery_power,
        battery_soc=soc,
        battery_clipped=battery_clipped,
        throughput=throughput,
        grid_power=net - pv_used,
    )


PASSED_THROUGH = (
    "price",
    "carbon_intensity",
    "outdoor_temperature",
    "dr_import_cap",
    "dr_soft_cap",
    "dr_penalty",
    "dr_credit",
    "dr_baseline",
)
"""Exogenous series copied into the result, so that a result can be costed and checked
alone (tariff, demand-response terms)."""

_DIMENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unit", ("crah_airflow", "crah_airflow_demand", "crah_fan_power", "crah_cooling_load")),
    ("cdu", ("cdu_load", "cdu_supply_temperature", "cdu_return_temperature", "cdu_pump_power",
             "cdu_facility_supply_temperature", "cdu_facility_return_temperature", "cdu_flow",
             "cdu_flow_demand", "cdu_facility_flow")),
    ("busbar", ("busbar_min_voltage", "busbar_current", "busbar_collapsed", "rectifiers_active",
                "shelf_output", "shelf_overloaded")),
    ("ups", ("ups_output", "ups_input")),
    ("feed", ("feed_power",)),
)  # fmt: skip
"""Per-equipment outputs of a chunk by their equipment dimension, in result order."""

_PER_RACK = (
    "rack_power",
    "rack_utilization",
    "inlet_temperature",
    "outlet_temperature",
    "tap_voltage",
    "bbu_ride_through",
    "case_temperature",
)
"""Per-rack series kept with ``per_rack=True`` (``case_temperature`` only with cold plates)."""

_DIMENSION_OF = {name: dim for dim, names in _DIMENSIONS for name in names} | dict.fromkeys(
    _PER_RACK, "rack"
)
"""Equipment dimension of every per-equipment series, by name."""

_SINGLE = frozenset(_PER_RACK).union(dict(_DIMENSIONS)["busbar"])
"""Series stored in float32 by ``simulate(precision="single")``: the per-rack and per-busbar
ones, the bulk of a long run's memory.  The other per-equipment series (units, CDUs, UPS,
feeds: few, and differenced by the planner's linearization) stay in float64."""


def _data_vars(
    schedule: Schedule,
    series: xr.Dataset,
    out: dict[str, FloatArray],
    storage: _Storage,
    wet_bulb: FloatArray,
    per_rack: bool,
) -> dict[str, Any]:
    """The result's variables, by name, as ``(dims, values)`` in result order."""
    load = out["facility_power_before_storage"]
    data_vars: dict[str, Any] = {}
    for name, values in out.items():
        if values.ndim == 1 and name != "facility_power_before_storage":
            data_vars[name] = ("time", values)
    data_vars["facility_power"] = ("time", load)
    data_vars["pv_power"] = ("time", storage.pv_used)
    data_vars["pv_curtailed"] = ("time", storage.pv_power - storage.pv_used)
    data_vars["battery_power"] = ("time", storage.battery_power)
    data_vars["battery_clipped"] = ("time", storage.battery_clipped)
    data_vars["battery_soc"] = ("time", storage.battery_soc[1:])
    data_vars["grid_power"] = ("time", storage.grid_power)
    data_vars["pue"] = ("time", load / out["it_power"])
    data_vars["wet_bulb_temperature"] = ("time", wet_bulb)
    data_vars["chilled_water_temperature"] = ("time", schedule.chilled_water_temperature)
    data_vars["supply_temperature"] = (("time", "unit"), schedule.supply_temperature)
    data_vars["workload_power"] = (("time", "workload"), schedule.workload_power)
    for dim, names in _DIMENSIONS:
        for name in filter(out.__contains__, names):  # kept (``outputs``)
            data_vars[name] = (("time", dim), out[name])
    if per_rack:
        for name in _PER_RACK:
            if name in out:
                data_vars[name] = (("time", "rack"), out[name])
    for name in PASSED_THROUGH:
        if name in series:
            data_vars[name] = ("time", series[name].values)
    return data_vars


def _coords(facility: Facility, time: NDArray[np.datetime64]) -> dict[str, Any]:
    """The result's coordinates: time and the equipment ids."""
    racks = facility.racks
    return {
        "time": time,
        "rack": racks.ids,
        "rack_row": ("rack", racks.row),
        "rack_position": ("rack", racks.position),
        "unit": facility.units.ids,
        "cdu": facility.cdus.ids,
        "busbar": facility.busbars.ids,
        "ups": facility.ups.ids,
        "feed": facility.feeds.ids,
        "workload": facility.workloads.ids,
    }


_COORDS: LastSeen[xr.Coordinates] = LastSeen(4)
"""Result coordinates last built, by a digest of the exact content they were built from."""


def _result_coords(facility: Facility, time: NDArray[np.datetime64]) -> xr.Coordinates:
    """:func:`_coords` as ``xarray.Coordinates`` (indexes built), reused while the time axis
    and the equipment ids are the same.

    Building the indexes (a pandas index per equipment dimension) was most of a result's
    assembly; a plan simulates the same hall over the same look-ahead a dozen times.  The key
    is a digest of the coordinates' whole content (:func:`physics.runtime.memo.digest`), so a reused
    one equals a new one; the indexes are immutable, and a Dataset made from it gets its own
    coordinate variables (attrs)."""
    racks = facility.racks
    key = digest(
        time,
        racks.ids,
        racks.row,
        racks.position,
        facility.units.ids,
        facility.cdus.ids,
        facility.busbars.ids,
        facility.ups.ids,
        facility.feeds.ids,
        facility.workloads.ids,
    )
    coords = _COORDS.get(key)
    if coords is None:
        coords = xr.Coordinates(_coords(facility, time))
        _COORDS.put(key, coords)
    return coords


def _dataset(
    facility: Facility, time: NDArray[np.datetime64], data_vars: dict[str, Any]
) -> xr.Dataset:
    """The result Dataset: variables with CF attrs from the registry, equipment coordinates."""
    ds = xr.Dataset(data_vars, coords=_result_coords(facility, time))
    annotate(ds)
    ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
    return ds


def simulate(
    facility: Facility,
    schedule: Schedule,
    series: xr.Dataset,
    *,
    per_rack: bool = True,
    outputs: Collection[str] | None = None,
    chunk_steps: int | None = None,
    precision: str = "double",
    store: str | os.PathLike[str] | None = None,
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
    outputs
        Names of the per-equipment series (time × rack, unit, ...) to keep; None: all.
    chunk_steps
        Steps processed at once (default: sized for ~2 MB per tap array).
    precision
        ``"double"``: every series in float64.  ``"single"``: the per-rack and per-busbar
        series (time × rack, time × busbar) are stored in float32, relative rounding error
        <= 2**-24 ≈ 6e-8 (2e-6 °C on a 30 °C inlet, 0.007 W on a 120 kW rack), half their
        memory (long runs).  The computation, the per-step series and every reduction over
        the racks (maxima, sums, indices) are float64 either way; the busbar flags are bool
        in single precision (0./1. in double).
    store
        Path of a NetCDF-4 file (created, or overwritten) to which the per-equipment series
        kept by ``per_rack`` and ``outputs`` are written as the simulation proceeds, window
        by window, instead of being kept in memory: memory no longer grows with them over a
        long horizon.  The result holds them as lazy (Dask) arrays read from that file, with
        the same values as without ``store``, bit for bit; the facility series stay in
        memory; ``close()`` on the result closes the file (reading a lazy series reopens it),
        e.g. before :func:`physics.runtime.stream.complete_store` appends the rest of the result to
        it.  None: every
        series in memory.
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
    topology = Topology(facility)
    loop = facility.facility_loop
    dry_bulb, wet_bulb = outdoor_temperatures(
        series,
        facility.elevation,
        dry_bulb_required=loop is not None
        and (loop.dry_coolers is not None or loop.trim_chillers is not None),
    )
    chunk_size = _chunk_steps(facility, topology, chunk_steps)
    if precision not in ("single", "double"):
        raise ValueError(f"precision must be 'single' or 'double', got {precision!r}")
    single = _SINGLE if precision == "single" else frozenset()
    diagnostics = _Diagnostics()
    known = set(_PER_RACK).union(*(names for _, names in _DIMENSIONS))
    selected = None if outputs is None else selection(outputs, known, "outputs")
    writer = None
    if store is not None:
        widest = max(facility.racks.count, facility.busbars.count, 1)
        buffered = chunk_size * max(1, WINDOW_BYTES // (8 * widest * chunk_size))
        writer = SeriesWriter(store, _coords(facility, time), _DIMENSION_OF, buffered, single)
    out: dict[str, Any] = {}
    try:
        for start in range(0, steps, chunk_size):
            window = slice(start, min(start + chunk_size, steps))
            values = _simulate_chunk(
                facility,
                topology,
                schedule,
                window,
                (dry_bulb[window], wet_bulb[window]),
                diagnostics,
                per_rack=per_rack,
                fan_tolerance=fan_tolerance,
                max_fan_iterations=max_fan_iterations,
            )
            values = kept(values, selected)
            if writer is not None:  # per-equipment series to the file, per-step ones here
                writer.add({n: v for n, v in values.items() if np.ndim(v) == 2}, start)
                values = {n: v for n, v in values.items() if np.ndim(v) < 2}
            _store(out, values, start, steps, single)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        out.update(writer.series())
    storage = _storage_and_grid(
        facility, schedule, series, out["facility_power_before_storage"], step
    )
    data_vars = _data_vars(schedule, series, out, storage, wet_bulb, per_rack)
    ds = _dataset(facility, time, data_vars)
    if writer is not None:  # ds.close() closes the file the streamed series are read from
        ds.set_close(writer.release)
    ds.attrs.update(_result_attrs(facility, step, storage.throughput, diagnostics))
    return ds


def hottest_inlet(
    facility: Facility,
    schedule: Schedule,
    series: xr.Dataset,
    *,
    chunk_steps: int | None = None,
    fan_tolerance: float = 1.0,
    max_fan_iterations: int = 6,
) -> float:
    """Hottest rack inlet over the steps of ``series`` [°C]: what
    ``float(simulate(facility, schedule, series)["max_inlet_temperature"].max())`` gives,
    computed without what the inlets do not depend on.

    The inlets come from steps 1–3 of :func:`simulate` (utilization, the electrical chain,
    the rack air and the server fan iteration); the cooling plant, liquid path, storage and
    the result Dataset are not computed.  The same arithmetic on the same chunks, so the same
    value bit for bit; steps whose inlets are NaN are skipped, as ``DataArray.max`` does
    (NaN when every step is).  Parameters as :func:`simulate`; the weather is not read.
    """
    time = series["time"].values
    steps = time.size
    step_seconds(time)  # the same check of a regular axis
    schedule.check(facility, steps)
    topology = Topology(facility)
    chunk_size = _chunk_steps(facility, topology, chunk_steps)
    diagnostics = _Diagnostics()
    per_step = np.empty(steps)
    for start in range(0, steps, chunk_size):
        window = slice(start, min(start + chunk_size, steps))
        state = _rack_state(
            facility, topology, schedule, window, diagnostics, fan_tolerance, max_fan_iterations
        )
        per_step[window] = state.inlet.max(axis=1)
    finite = per_step[~np.isnan(per_step)]
    return float(finite.max()) if finite.size else float("nan")


def _result_attrs(
    facility: Facility, step: float, throughput: float, diagnostics: _Diagnostics
) -> dict[str, Any]:
    """Global attributes of a result: step [s], limits [°C, W], battery throughput [J] and
    the counts of clamped curve evaluations and unconverged fan iterations."""
    return {
        "title": f"dctwin simulation of {facility.name}",
        "facility": facility.name,
        "step_seconds": step,
        "inlet_limit": facility.inlet_limit,
        "facility_water_limit": facility.facility_water_limit,
        "contract_capacity": facility.grid.contract_capacity,
        "battery_throughput_joules": throughput,
        "clamped_curve_evaluations": diagnostics.clamped_curves,
        "clamped_chiller_steps": diagnostics.clamped_chiller_steps,
        "clamped_trim_chiller_steps": diagnostics.clamped_trim_chiller_steps,
        "fan_iterations_max": diagnostics.fan_iterations_max,
        "unconverged_fan_steps": diagnostics.unconverged_fans,
        "Conventions": "CF-1.10",
    }


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
        "clamped_chiller_steps": int(ds.attrs.get("clamped_chiller_steps", 0)),
        "clamped_trim_chiller_steps": int(ds.attrs.get("clamped_trim_chiller_steps", 0)),
    }
    if "min_case_margin" in ds:
        summary["max_case_temperature_c"] = float(ds["max_case_temperature"].max())
        summary["min_case_margin_k"] = float(ds["min_case_margin"].min())
    if "facility_loop_supply_temperature" in ds:
        summary["max_facility_loop_supply_c"] = float(ds["facility_loop_supply_temperature"].max())
    if "price" in ds:
        summary["energy_cost"] = float(
            (ds["grid_power"] * ds["price"]).sum() * step / JOULES_PER_KWH / 1e3
        )  # price per MWh: kWh / 1e3
    if "carbon_intensity" in ds:
        summary["carbon_kg"] = float(
            (ds["grid_power"] * ds["carbon_intensity"]).sum() * step / JOULES_PER_KWH / 1e3
        )  # g per kWh: g / 1e3 = kg
    return summary
