"""Plans checked on the twin as it is calibrated now: calibrated factors *and* inlet offsets.

The planner (:func:`optimizer.plan.plan`) verifies its plan with the physics of the facility
it is given.  The live twin gives it the calibrated facility
(:func:`twin.live.parameters.apply`: fan, plant and busbar factors) with the estimated state
(battery SOC, remaining job energy), but the per-rack inlet offsets the calibration learns
(an unmodelled local heat source: +1.7 K on a rack is common) act on the readings only, so a
plan verified by the planner alone can drive such a rack over its limit.

* :func:`with_offsets` adds the offsets to a simulation result (inlet and outlet
  temperatures, the hottest inlet, the inlet margin).
* :func:`check_on_twin` checks a result against every limit with the offsets in:
  :class:`TwinCheck` (hottest inlet, smallest margin, violations in physical terms).
* :func:`plan_on_twin` plans, checks on the twin and, while a rack with an offset breaks its
  inlet limit, caps the supply setpoint of that rack's cooling unit by the excess (plus
  :data:`CAP_MARGIN`) and plans again (at most ``rounds`` times).  The plan it returns reports
  the twin's figures: ``verified`` only when the planner's physics *and* the twin's check
  hold, ``max_inlet_temperature_c`` and the violations with the offsets in.

A cap is per cooling unit, not per rack, because the supply setpoint is the only knob the
planner has on a rack's inlet; it is conservative for the unit's other racks when the hot rack
is hot only at some steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.special import ndtr

from optimizer.curve_range import curve_range
from optimizer.plan import Plan, PlanOptions, plan
from optimizer.state import PlanState, apply_state
from physics.facility import Facility
from physics.violations import Violation, find_violations

__all__ = [
    "CAP_MARGIN",
    "TwinCheck",
    "check_on_twin",
    "inlet_risk",
    "plan_on_twin",
    "with_offsets",
]

FloatArray = NDArray[np.float64]

CAP_MARGIN = 0.05
"""Extra margin below the excess when a unit's supply setpoint is capped [K]."""

PlanFunction = Callable[[Facility, xr.Dataset, PlanOptions | None, PlanState | None], Plan]
"""Plans a facility over a series from a state (:func:`optimizer.plan.plan`)."""


@dataclass(frozen=True)
class TwinCheck:
    """A schedule's simulation checked on the calibrated twin (offsets included).

    Attributes
    ----------
    verified
        No limit is broken with the offsets in.
    max_inlet_temperature_c
        Hottest rack inlet over the window [°C].
    hottest_rack
        The rack it belongs to.
    min_inlet_margin_k
        Smallest margin to the inlet limit over racks and steps [K] (negative: broken).
    violations
        Every limit broken, in physical terms.
    offsets_k
        The non-zero calibrated inlet offsets applied [K], by rack.
    setpoint_caps_c
        Supply setpoint caps the planning needed per cooling unit [°C] (empty: none).
    curve_range
        Steps the chillers ran outside their curves' fitted range and by how much
        (:func:`optimizer.curve_range.curve_range`); for a plan also the saving on the
        weather-driven ones, extrapolated (:func:`optimizer.curve_range.plan_curve_range`).
    """

    verified: bool
    max_inlet_temperature_c: float
    hottest_rack: str
    min_inlet_margin_k: float
    violations: list[Violation]
    offsets_k: dict[str, float]
    setpoint_caps_c: dict[str, float] = field(default_factory=dict)
    curve_range: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the figures, the violations' messages, offsets and caps."""
        return {
            "verified": self.verified,
            "model": "calibrated twin (calibrated factors and per-rack inlet offsets)",
            "max_inlet_temperature_c": round(self.max_inlet_temperature_c, 4),
            "hottest_rack": self.hottest_rack,
            "min_inlet_margin_k": round(self.min_inlet_margin_k, 4),
            "violations": [v.message for v in self.violations],
            "inlet_offsets_k": {k: round(v, 4) for k, v in self.offsets_k.items()},
            "setpoint_caps_c": {k: round(v, 4) for k, v in self.setpoint_caps_c.items()},
            "curve_range": self.curve_range,
        }


def with_offsets(result: xr.Dataset, offsets: FloatArray, inlet_limit: float) -> xr.Dataset:
    """``result`` with per-rack inlet offsets added (a copy; ``result`` is not changed).

    Parameters
    ----------
    result
        :func:`physics.simulate.simulate` output with per-rack series.
    offsets
        Offset of each rack [K], shape (R,).
    inlet_limit
        Upper inlet limit [°C], for ``inlet_limit_margin`` when the result has it.

    Returns
    -------
    xarray.Dataset
        ``inlet_temperature`` and ``outlet_temperature`` [°C] shifted per rack,
        ``max_inlet_temperature`` [°C] recomputed (attributes kept).
    """
    out = result.copy()
    if "inlet_temperature" not in result or not np.any(offsets):
        return out
    shift = np.asarray(offsets, dtype=float)[np.newaxis, :]
    for name in ("inlet_temperature", "outlet_temperature"):
        if name in result:
            out[name] = result[name].copy(data=result[name].values + shift)
    inlet = out["inlet_temperature"].values
    if "max_inlet_temperature" in result:
        out["max_inlet_temperature"] = result["max_inlet_temperature"].copy(data=inlet.max(axis=1))
    if "inlet_limit_margin" in result:
        margin = inlet_limit - inlet
        out["inlet_limit_margin"] = result["inlet_limit_margin"].copy(
            data=margin.min(axis=1) if result["inlet_limit_margin"].ndim == 1 else margin
        )
    return out


def check_on_twin(facility: Facility, result: xr.Dataset, offsets: FloatArray) -> TwinCheck:
    """Check a simulation of ``facility`` against every limit with the inlet offsets added.

    Parameters
    ----------
    facility
        The facility simulated (calibrated factors applied).
    result
        Its :func:`physics.simulate.simulate` output with per-rack series.
    offsets
        Calibrated inlet offset of each rack [K], shape (R,).

    Returns
    -------
    TwinCheck
    """
    adjusted = with_offsets(result, offsets, facility.inlet_limit)
    violations = find_violations(facility, adjusted)
    ids = facility.racks.ids
    if "inlet_temperature" in adjusted and len(ids):
        inlet = np.asarray(adjusted["inlet_temperature"].values, dtype=float)
        worst = np.unravel_index(int(np.nanargmax(inlet)), inlet.shape)
        hottest, rack = float(inlet[worst]), ids[int(worst[1])]
    else:
        hottest, rack = float(adjusted["max_inlet_temperature"].max()), "(hottest rack)"
    nonzero = {ids[r]: float(o) for r, o in enumerate(offsets) if o != 0.0}
    return TwinCheck(
        verified=not violations,
        max_inlet_temperature_c=hottest,
        hottest_rack=rack,
        min_inlet_margin_k=facility.inlet_limit - hottest,
        violations=violations,
        offsets_k=nonzero,
        curve_range=curve_range(facility, result) if "chillers_running" in result else {},
    )


def inlet_risk(check: TwinCheck, racks: Sequence[str], inlet_std: FloatArray) -> dict[str, float]:
    """How much the verified inlet margin is worth against what the twin does not know.

    A plan verified at 0.0 K margin on the calibrated twin is over the limit half the time
    if the hottest rack's inlet is uncertain by ±1 K (the estimator's σ): the check's figures
    come from the model, the rack's true inlet from the sensors.  The probability is
    Φ(−margin / σ), with σ the state estimator's current inlet uncertainty of the hottest
    rack (a Gaussian error of the model's prediction as large as today's estimate error).

    Parameters
    ----------
    check
        The plan's check on the calibrated twin.
    racks
        Rack ids of the estimate.
    inlet_std
        The estimator's inlet σ of each rack now [K].

    Returns
    -------
    dict
        ``inlet_std_k`` [K] and ``exceedance_probability`` [-] of the hottest rack at its
        tightest step; empty when the rack or its σ is unknown.
    """
    if check.hottest_rack not in racks:
        return {}
    sigma = float(inlet_std[list(racks).index(check.hottest_rack)])
    if not (np.isfinite(sigma) and sigma > 0.0):
        return {}
    chance = float(ndtr(-check.min_inlet_margin_k / sigma))
    return {"inlet_std_k": round(sigma, 4), "exceedance_probability": round(chance, 4)}


def _caps(
    facility: Facility, result: xr.Dataset, offsets: FloatArray, caps: dict[int, float]
) -> bool:
    """Tighten ``caps`` (unit index → highest supply setpoint [°C]) where a rack breaks its
    inlet limit with its offset; True when a cap was added or lowered."""
    inlet = np.asarray(result["inlet_temperature"].values, dtype=float) + offsets[np.newaxis, :]
    excess = inlet - facility.inlet_limit  # (T, R) [K]
    supply = np.asarray(result["supply_temperature"].values, dtype=float)  # (T, U) [°C]
    changed = False
    for r in np.flatnonzero((excess > 1e-6).any(axis=0)):
        u = int(facility.racks.unit[r])
        if u < 0:
            continue
        steps = excess[:, r] > 1e-6
        cap = float(np.min(supply[steps, u] - excess[steps, r])) - CAP_MARGIN
        cap = max(cap, float(facility.units.supply_temperature_min[u]))
        if cap < caps.get(u, np.inf) - 1e-9:
            caps[u] = cap
            changed = True
    return changed


def _capped(facility: Facility, caps: dict[int, float]) -> Facility:
    """``facility`` with its units' highest supply setpoints lowered to ``caps``."""
    if not caps:
        return facility
    units = facility.units
    highest = np.array(units.supply_temperature_max, dtype=float, copy=True)
    for u, cap in caps.items():
        highest[u] = min(highest[u], cap)
    return dataclasses.replace(
        facility, units=dataclasses.replace(units, supply_temperature_max=highest)
    )


def plan_on_twin(
    facility: Facility,
    offsets: FloatArray,
    series: xr.Dataset,
    options: PlanOptions | None = None,
    state: PlanState | None = None,
    *,
    rounds: int = 3,
    planner: PlanFunction = plan,
) -> tuple[Plan, TwinCheck]:
    """Plan ``facility`` over ``series`` so that it holds on the twin with the inlet offsets.

    Parameters
    ----------
    facility
        The calibrated facility.
    offsets
        Calibrated inlet offset of each rack [K], shape (R,).
    series
        Exogenous series of the planning window.
    options
        Solver control.
    state
        The state the plan starts from (work done, battery SOC, billing peak so far,
        setpoints in force; see :class:`optimizer.state.PlanState`).
    rounds
        Most plans made (the first, then one per round of caps) [-].
    planner
        The planning function (:func:`optimizer.plan.plan`).

    Returns
    -------
    (Plan, TwinCheck)
        The last plan, reporting the twin's figures (``verified``, ``violations`` and
        ``max_inlet_temperature_c`` with the offsets in), and its check.
    """
    offsets = np.asarray(offsets, dtype=float)
    caps: dict[int, float] = {}
    checked = apply_state(facility, state)

    def plan_and_check(current: Facility) -> tuple[Plan, TwinCheck]:
        result = planner(current, series, options, state)
        check = check_on_twin(checked, result.result, offsets)
        if check.verified or result.source != "rule_based":
            return result, check
        # the rule-based schedule sits at the bare limit by construction (its bisection), so
        # a calibrated offset breaks it: the co-plan of the same facility may hold instead
        co_options = dataclasses.replace(options or PlanOptions(), rule_based_if_cheaper=False)
        co_plan = planner(current, series, co_options, state)
        co_check = check_on_twin(checked, co_plan.result, offsets)
        if not co_check.verified:
            return result, check
        co_plan.choice = {
            **co_plan.choice,
            "source": co_plan.source,
            "reason": "the rule-based schedule breaks an inlet limit on the calibrated twin "
            "(inlet offsets); the co-plan, which holds there, is returned",
        }
        return co_plan, co_check

    result, check = plan_and_check(facility)
    for _ in range(max(rounds, 1) - 1):
        if check.verified or "inlet_temperature" not in result.result:
            break
        if not _caps(facility, result.result, offsets, caps):
            break
        result, check = plan_and_check(_capped(facility, caps))
    names = facility.units.ids
    check = dataclasses.replace(
        check,
        setpoint_caps_c={names[u]: c for u, c in caps.items()},
        curve_range=result.curve_range or check.curve_range,
    )
    figures = {**result.figures, "max_inlet_temperature_c": check.max_inlet_temperature_c}
    notes = list(result.notes)
    if caps:
        notes.append(
            "supply setpoints capped so that racks with a calibrated inlet offset stay within "
            "their limit: " + ", ".join(f"{names[u]} ≤ {c:.2f} °C" for u, c in sorted(caps.items()))
        )
    if not check.verified and result.verified:
        notes.append(
            "the plan holds in the planner's physics but not on the calibrated twin "
            "(inlet offsets): " + "; ".join(v.message for v in check.violations)
        )
    twin_plan = dataclasses.replace(
        result,
        verified=result.verified and check.verified,
        violations=check.violations,
        figures=figures,
        notes=notes,
    )
    return twin_plan, check
