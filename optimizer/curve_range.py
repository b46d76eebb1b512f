"""The chiller curves' fitted range: kept by the decisions, reported where weather leaves it.

The chiller plant (:mod:`physics.plant`) evaluates EnergyPlus ``Chiller:Electric:EIR`` curves
fitted over a range of three inputs.  Outside it the physics clamps the input to the limit
(as EnergyPlus does): the result there is not validated by the published record.

* **Leaving chilled water** is a decision (the chilled-water setpoint).  The plan and the
  rule-based baseline keep it within the curves' range at every step where the chillers run;
  :func:`chilled_water_ceiling` gives the highest such setpoint per step.  Above the curves'
  upper limit the chillers do not run when the water-side economizer carries the whole load,
  that is when the setpoint is at least ``wet bulb + tower approach + economizer approach``
  (:func:`physics.plant.plant_performance`, step 2); only there may the setpoint exceed it.
* **Entering condenser water** is weather: ``max(wet bulb + tower approach, minimum condenser
  temperature)``.  No decision moves it, so :func:`curve_range` counts the steps where the
  chillers ran with it outside the range, and by how much.
* **Part-load ratio**: the EIR part-load curve is evaluated at ``max(PLR, minimum unloading
  ratio)`` with PLR at most the maximum part-load ratio, which every shipped record keeps
  within its limits; it is counted as well.

All temperatures in °C, differences in K.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from physics.facility import Facility
from physics.plant import ChillerPlant, entering_condenser_water

__all__ = [
    "chilled_water_ceiling",
    "chilled_water_floor",
    "curve_limits",
    "curve_range",
    "describe",
    "extrapolated_steps",
    "plan_curve_range",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_INPUTS = ("leaving chilled water", "entering condenser water", "part load ratio")


def curve_limits(plant: ChillerPlant) -> dict[str, tuple[float, float]]:
    """The range over which all three chiller curves are fitted, per input.

    Parameters
    ----------
    plant
        The chiller plant.

    Returns
    -------
    dict
        ``"leaving chilled water"`` and ``"entering condenser water"`` [°C] and
        ``"part load ratio"`` [-], each (lowest, highest) shared by CAPFT and EIRFT (EIRFPLR).
    """
    chiller = plant.chiller
    capft, eirft, plr = chiller.capft, chiller.eirft, chiller.eirfplr
    return {
        _INPUTS[0]: (max(capft.x_min, eirft.x_min), min(capft.x_max, eirft.x_max)),
        _INPUTS[1]: (max(capft.y_min, eirft.y_min), min(capft.y_max, eirft.y_max)),
        _INPUTS[2]: (plr.x_min, plr.x_max),
    }


def chilled_water_ceiling(facility: Facility, wet_bulb: FloatArray) -> FloatArray:
    """Highest chilled-water setpoint at each step that keeps the chiller curves in range [°C].

    The curves' upper chilled-water limit, except at steps where the economizer can carry the
    whole load at that limit (chillers off, no curve evaluated): there the plant's upper
    bound.  When the plant's bounds lie wholly above the curves' range, the plant's upper
    bound (nothing in range can be reached; :func:`curve_range` reports the steps).

    Parameters
    ----------
    facility
        The compiled facility.
    wet_bulb
        Outdoor wet-bulb temperature per step [°C].

    Returns
    -------
    numpy.ndarray
        Ceiling per step [°C], never above the plant's upper bound.
    """
    plant = facility.plant
    low, high = facility.chilled_water_temperature_bounds
    curve_high = curve_limits(plant)[_INPUTS[0]][1]
    wet_bulb = np.asarray(wet_bulb, dtype=float)
    if curve_high < low:
        return np.full(wet_bulb.shape, float(high))
    if plant.economizer_enabled:
        free_from = wet_bulb + plant.tower_approach + plant.economizer_approach
    else:
        free_from = np.full(wet_bulb.shape, np.inf)
    ceiling = np.where(free_from <= curve_high, high, min(high, curve_high))
    return np.asarray(ceiling, dtype=float)


def chilled_water_floor(facility: Facility) -> float:
    """Lowest chilled-water setpoint within the chiller curves' range and the plant's bounds.

    Parameters
    ----------
    facility
        The compiled facility.

    Returns
    -------
    float
        The higher of the plant's lower bound and the curves' lower chilled-water limit [°C];
        the plant's lower bound when the curves' limit is above the plant's upper bound.
    """
    low, high = facility.chilled_water_temperature_bounds
    curve_low = curve_limits(facility.plant)[_INPUTS[0]][0]
    return float(low) if curve_low > high else float(max(low, curve_low))


def _inputs(facility: Facility, result: xr.Dataset) -> dict[str, FloatArray]:
    """The chillers' curve inputs per step of a simulation [°C, -]."""
    plant, chiller = facility.plant, facility.plant.chiller
    wet_bulb = np.asarray(result["wet_bulb_temperature"].values, dtype=float)
    chilled = np.asarray(result["chilled_water_temperature"].values, dtype=float)
    condenser = entering_condenser_water(plant, wet_bulb)
    running = np.asarray(result["chillers_running"].values, dtype=float)
    load = np.asarray(result["plant_load"].values, dtype=float)
    economizer = np.nan_to_num(np.asarray(result["economizer_fraction"].values, dtype=float))
    share = load * (1.0 - economizer) / np.where(running > 0, running, 1.0)  # [W] each
    # the part-load ratio as the EIR part-load curve sees it (physics.plant.chiller_performance)
    available = np.maximum(chiller.reference_capacity * chiller.capft(chilled, condenser), 1.0)
    plr = np.minimum(share, chiller.max_part_load_ratio * available) / available
    return {
        _INPUTS[0]: chilled,
        _INPUTS[1]: condenser,
        _INPUTS[2]: np.maximum(plr, chiller.min_unloading_ratio),
    }


def extrapolated_steps(facility: Facility, wet_bulb: FloatArray) -> BoolArray:
    """Steps where the weather puts the entering condenser water outside the curves' range.

    Parameters
    ----------
    facility
        The compiled facility.
    wet_bulb
        Outdoor wet-bulb temperature per step [°C].

    Returns
    -------
    numpy.ndarray of bool
        True where a running chiller would be evaluated outside its fitted range whatever
        the decisions.
    """
    plant = facility.plant
    low, high = curve_limits(plant)[_INPUTS[1]]
    condenser = entering_condenser_water(plant, wet_bulb)
    return np.asarray((condenser < low) | (condenser > high), dtype=bool)


def curve_range(facility: Facility, result: xr.Dataset) -> dict[str, Any]:
    """How many steps ran the chillers outside their curves' fitted range, and by how much.

    Parameters
    ----------
    facility
        The compiled facility.
    result
        A :func:`physics.simulate.simulate` result of it.

    Returns
    -------
    dict
        ``steps`` (of the result) [-], ``outside_steps``: steps with a running chiller and an
        input outside the range [-], and per input (``"leaving chilled water"``,
        ``"entering condenser water"`` [°C], ``"part load ratio"`` [-]): ``limits``,
        ``outside_steps`` [-], ``worst_excess`` beyond the nearer limit [K or -] and
        ``decision`` (whether the plan decides it).
    """
    limits = curve_limits(facility.plant)
    running = np.asarray(result["chillers_running"].values) > 0
    any_outside = np.zeros(running.shape, dtype=bool)
    inputs: dict[str, dict[str, Any]] = {}
    for name, values in _inputs(facility, result).items():
        low, high = limits[name]
        excess = np.where(running, np.maximum(low - values, values - high), 0.0)
        outside = running & (excess > 1e-9)
        any_outside |= outside
        inputs[name] = {
            "limits": [round(low, 4), round(high, 4)],
            "outside_steps": int(outside.sum()),
            "worst_excess": round(float(excess[outside].max()) if outside.any() else 0.0, 4),
            "decision": name != _INPUTS[1],
        }
    return {
        "steps": int(running.size),
        "outside_steps": int(any_outside.sum()),
        "inputs": inputs,
    }


def _step_money(facility: Facility, result: xr.Dataset) -> FloatArray:
    """Energy and carbon cost of each step [currency] (the per-step terms of the cost)."""
    hours = float(result.attrs["step_seconds"]) / 3600.0
    grid_kwh = np.asarray(result["grid_power"].values, dtype=float) / 1e3 * hours
    price = np.asarray(result["price"].values, dtype=float) / 1e3  # [currency/kWh]
    carbon = np.asarray(result["carbon_intensity"].values, dtype=float) / 1e3  # [kg/kWh]
    return np.asarray(grid_kwh * (price + facility.grid.carbon_price / 1e3 * carbon), dtype=float)


def _cooling_kwh(result: xr.Dataset) -> FloatArray:
    """Cooling energy of each step [kWh]."""
    hours = float(result.attrs["step_seconds"]) / 3600.0
    return np.asarray(result["cooling_power"].values, dtype=float) / 1e3 * hours


def plan_curve_range(facility: Facility, results: dict[str, xr.Dataset]) -> dict[str, Any]:
    """The chiller curves' range for a plan and its baselines, and the saving extrapolated.

    Parameters
    ----------
    facility
        The compiled facility.
    results
        Simulations over the same steps by name: ``"plan"`` and the baselines.

    Returns
    -------
    dict
        ``limits`` (by input: [low, high] [°C or -]), :func:`curve_range` of each result by
        name, ``weather_steps``: steps where the weather alone puts the entering condenser
        water outside the range [-], and ``extrapolated``: by baseline, the ``steps`` of
        ``weather_steps`` where a chiller ran in the plan or the baseline [-] and the
        saving over them (baseline − plan): ``cost`` (energy and carbon) [currency] and
        ``cooling_energy_kwh`` [kWh].  Those savings rest on clamped curves.
    """
    plan = results["plan"]
    weather = extrapolated_steps(facility, plan["wet_bulb_temperature"].values)
    money, cooling = _step_money(facility, plan), _cooling_kwh(plan)
    plan_running = np.asarray(plan["chillers_running"].values) > 0
    out: dict[str, Any] = {
        "limits": {
            k: [round(a, 4), round(b, 4)] for k, (a, b) in curve_limits(facility.plant).items()
        },
        **{name: curve_range(facility, ds) for name, ds in results.items()},
        "weather_steps": int(weather.sum()),
        "extrapolated": {},
    }
    for name, ds in results.items():
        if name == "plan":
            continue
        steps = weather & (plan_running | (np.asarray(ds["chillers_running"].values) > 0))
        out["extrapolated"][name] = {
            "steps": int(steps.sum()),
            "cost": round(float(np.sum((_step_money(facility, ds) - money)[steps])), 3),
            "cooling_energy_kwh": round(float(np.sum((_cooling_kwh(ds) - cooling)[steps])), 3),
        }
    return out


_LABELS = {"plan": "plan", "as_operated": "as operated", "rule_based": "rule-based"}


def describe(curve: dict[str, Any], currency: str = "USD") -> list[str]:
    """Sentences for the report and the Plan page from :func:`plan_curve_range` (or a
    :func:`curve_range` of the plan alone, as the twin check carries it).

    Parameters
    ----------
    curve
        The ``curve_range`` of a plan's JSON (or the twin check's).
    currency
        Currency label of the savings.

    Returns
    -------
    list of str
        Empty when nothing was recorded; otherwise the steps outside the range per schedule
        and input (and by how much: [K] for temperatures), then the saving on the
        weather-driven steps, marked as extrapolated.
    """
    if not curve:
        return []
    runs = {name: curve[name] for name in _LABELS if name in curve}
    if "plan" not in runs and "inputs" in curve:
        runs = {"plan": curve}
    if not any(run["outside_steps"] for run in runs.values()):
        return ["chiller curves: every chiller step within the curves' fitted range"]
    lines = []
    for name, run in runs.items():
        if not run["outside_steps"]:
            lines.append(f"chiller curves, {_LABELS[name]}: within their fitted range")
            continue
        parts = []
        for label, entry in run["inputs"].items():
            if entry["outside_steps"]:
                unit = " K" if "water" in label else ""
                kind = "decision" if entry["decision"] else "weather"
                low, high = entry["limits"]
                parts.append(
                    f"{label} ({kind}, fitted {low:g}–{high:g}) on {entry['outside_steps']} "
                    f"steps, up to {entry['worst_excess']:.2f}{unit} beyond"
                )
        lines.append(
            f"chiller curves, {_LABELS[name]}: {run['outside_steps']} of {run['steps']} steps "
            f"outside their fitted range, clamped there: {'; '.join(parts)}"
        )
    for name, entry in curve.get("extrapolated", {}).items():
        if entry["steps"]:
            lines.append(
                f"saving vs {_LABELS.get(name, name)} on those {entry['steps']} weather-driven "
                f"steps: {entry['cost']:,.0f} {currency} (energy and carbon), "
                f"{entry['cooling_energy_kwh']:,.0f} kWh cooling: EXTRAPOLATED (clamped curves)"
            )
    return lines
