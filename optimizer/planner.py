"""The planning model built once and re-solved: build, solve (relax-and-fix), update.

:class:`PlanSolver` owns what a re-plan needs — the as-operated baseline, the linearization,
the Pyomo model of :func:`optimizer.model.build_model` and its HiGHS hand-over — and nothing of
the verification.  :class:`optimizer.plan.Planner` adds the verify-and-tighten loop, and
:mod:`optimizer.explain` diagnoses and prices a :class:`PlanSolver`; imports run
``plan → explain → planner`` and never back.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import xarray as xr
from pyomo.common.gc_manager import PauseGC
from pyomo.contrib.appsi.base import TerminationCondition

from optimizer.accounting import month_starts
from optimizer.baselines import as_operated
from optimizer.highs_direct import DirectHighs
from optimizer.horizon import (
    DEFAULT_COARSE_HOURS,
    DEFAULT_FINE_HOURS,
    contract_instants,
    planning_axis,
)
from optimizer.linearize import linearize
from optimizer.model import ModelOptions, build_model
from optimizer.progress import Progress, Tracker, tracker
from optimizer.state import PlanState, apply_state
from physics.constants import JOULES_PER_KWH, WATTS_PER_KILOWATT
from physics.facility import Facility
from physics.simulate import simulate


@dataclass
class PlanOptions:
    """Solver control and model switches."""

    time_limit: float = 60.0
    """Wall-clock limit of one HiGHS solve [s]."""
    mip_gap: float = 5e-3
    """Relative MIP gap at which HiGHS stops [-]."""
    max_rounds: int = 4
    """Verify-and-resolve rounds before giving up on a clean plan."""
    model: ModelOptions = field(default_factory=ModelOptions)
    shadow_prices: bool = True
    """Re-solve with 1 kW more feed, 1 K higher inlet limit, 1 kWh more battery, 1 h later
    deadlines to price them."""
    fine_hours: float = DEFAULT_FINE_HOURS
    """Look-ahead planned at the series' own step [h]; later periods are coarser
    (:mod:`optimizer.horizon`); ``inf`` keeps every step."""
    coarse_hours: float = DEFAULT_COARSE_HOURS
    """Length of the periods after ``fine_hours`` [h]."""
    refinements: int = 3
    """Corrections after the first verified plan: each corrects the model's import by the
    physics' at the last verified plan (:meth:`PlanSolver.correct`), re-solves and keeps the
    new plan only when it is verified and its verified cost is lower (0: none)."""
    committed_hours: float | None = None
    """The period whose decisions are committed (applied) [h], from the start; None: the
    whole look-ahead.  Figures of this period are reported beside the look-ahead's."""
    rule_based_if_cheaper: bool = True
    """Return the rule-based schedule in the co-plan's place when it is verified (limits,
    ramps, contracts, the end SOC target and inlet margin asked) and the co-plan either did
    not verify or, with equal work, costs more (:func:`optimizer.result.choose_source`);
    False: always the co-plan (to study it)."""
    extra_breakpoints: tuple[np.datetime64, ...] = ()
    """More instants at which a period must start (UTC); a fleet passes every site's contract
    instants so that all its sites share one planning axis."""


def event_signature(series: xr.Dataset) -> np.ndarray:
    """Per step, a number that changes whenever a demand-response term changes (NaN outside
    every event): period boundaries go where it changes."""
    steps = series.sizes["time"]
    signature = np.full(steps, np.nan)
    for weight, name in enumerate(
        ("dr_import_cap", "dr_soft_cap", "dr_penalty", "dr_credit", "dr_baseline"), start=1
    ):
        if name in series:
            values = np.asarray(series[name].values, dtype=float)
            inside = np.isfinite(values)
            signature = np.where(inside, np.nan_to_num(signature) + weight * values, signature)
    return signature


def _model_options_from_state(
    options: ModelOptions, facility: Facility, state: PlanState | None
) -> ModelOptions:
    """Model options with the setpoints in force from ``state`` (ramps start there)."""
    if state is None:
        return options
    supply = options.initial_supply
    if state.supply_temperature is not None:
        supply = tuple(state.supply_temperature[u] for u in facility.units.ids)
    chilled = options.initial_chilled_water
    if state.chilled_water_temperature is not None:
        chilled = state.chilled_water_temperature
    return dataclasses.replace(options, initial_supply=supply, initial_chilled_water=chilled)


class PlanSolver:
    """The planning model built once at the as-operated operating point, and re-solved.

    It keeps the baseline, the linearization, the Pyomo model and its HiGHS hand-over
    (:class:`optimizer.highs_direct.DirectHighs`); :meth:`update` pushes new forecasts without
    a rebuild.  :class:`optimizer.plan.Planner` adds the verification loop on top;
    :mod:`optimizer.explain` diagnoses and prices a solved one.

    Parameters
    ----------
    facility
        Compiled facility.
    series
        Exogenous series on the fine (regular) axis of the look-ahead.
    options
        Solver control and model switches.
    state
        The state the plan starts from (work done, battery SOC, billing peak so far,
        setpoints in force); :attr:`facility` is the facility as seen from it
        (:func:`optimizer.state.apply_state`).
    progress
        ``progress(stage, fraction)`` callback (:mod:`optimizer.progress`), or None.
    """

    def __init__(
        self,
        facility: Facility,
        series: xr.Dataset,
        options: PlanOptions | None = None,
        state: PlanState | None = None,
        progress: Progress | Tracker | None = None,
    ) -> None:
        # the cyclic garbage collector paused while the model and its hand-over are made
        # (as Pyomo's writers do): its full passes over the model's objects were a fifth of
        # a plan's CPU time (benchmarks/plan_scaling.py, docs/benchmarks.md)
        with PauseGC():
            self._prepare(facility, series, options, state, progress)

    def _prepare(
        self,
        facility: Facility,
        series: xr.Dataset,
        options: PlanOptions | None,
        state: PlanState | None,
        progress: Progress | Tracker | None,
    ) -> None:
        """Baseline, linearization and model (the body of :meth:`__init__`)."""
        self.progress = tracker(progress)
        """Progress of the plan (:mod:`optimizer.progress`): preparation 0 → 0.3, baselines to
        0.4, solve and verify to 0.8, refinements to 0.95, shadow prices to 1."""
        self.progress("baseline: as-operated schedule and simulation", 0.0)
        self.state = state
        self.facility = facility = apply_state(facility, state)
        self.series = series
        # a deep copy: verification adds inlet rows and tightening to the model options, which
        # must not leak into the next plan made with the same options (live re-plans do that)
        self.options = options = copy.deepcopy(options or PlanOptions())
        options.model = _model_options_from_state(options.model, facility, state)
        self.timings: dict[str, float] = {}
        self.solution_loaded = False
        """Whether the last :meth:`solve` loaded a feasible solution into the model."""
        started = time.perf_counter()
        # from the setpoints in force, at the plan's ramp limits
        self.baseline_schedule = as_operated(facility, series, state, options.model.ramps)
        self.baseline_result = simulate(facility, self.baseline_schedule, series)
        time_axis = series["time"].values
        self.axis = planning_axis(
            time_axis,
            fine_hours=self.options.fine_hours,
            coarse_hours=self.options.coarse_hours,
            breakpoints=[
                *contract_instants(facility, event_signature(series), time_axis),
                *month_starts(facility, time_axis),
                *self.options.extra_breakpoints,
            ],
        )
        self.progress("linearize at the as-operated point", 0.1)
        self.lin = linearize(
            facility, series, self.baseline_schedule, self.baseline_result, self.axis
        )
        self.timings["linearize_s"] = time.perf_counter() - started
        self.progress("build the model", 0.2)
        self._build(self.options.model)
        self.progress("model built", 0.3)

    def _build(self, model_options: ModelOptions) -> None:
        started = time.perf_counter()
        self.model = build_model(self.facility, self.lin, options=model_options)
        state = self.state
        if state is not None and state.billing_period in self.model.grid.B:
            self.model.grid.peak_before[state.billing_period] = state.peak_so_far_kw
        self.timings["build_s"] = self.timings.get("build_s", 0.0) + time.perf_counter() - started
        self.solver = DirectHighs(time_limit=self.options.time_limit, mip_gap=self.options.mip_gap)

    def correct(self, result: xr.Dataset) -> None:
        """Correct the model's import by what the physics found at the last verified plan.

        ``result`` is that plan's simulation.  Each period's import gets the difference
        between the physics' mean import and the model's (``grid.correction``, the error of
        the linearization at this plan), and its peak row the physics' highest-minus-mean
        import over the period's fine steps (``grid.peak_excess``).  The next solve then
        prices and caps the import the physics would see, near this plan.
        """
        g = self.model.grid
        grid_kw = np.asarray(result["grid_power"].values, dtype=float) / WATTS_PER_KILOWATT
        mean = self.axis.reduce(grid_kw, "mean")
        excess = self.axis.reduce(grid_kw, "max") - mean
        for t in range(self.lin.steps):
            model_import = float(pyo.value(g.import_[t])) - float(pyo.value(g.correction[t]))
            g.correction[t] = float(mean[t]) - model_import
            g.peak_excess[t] = max(float(excess[t]), 0.0)
        # constants of the balance and peak rows only: new row bounds, no recompile
        self.solver.refresh_rows([*g.balance.values(), *g.peak_def.values()])

    def snapshot(self) -> dict[str, list[float]]:
        """The correction parameters, for :meth:`restore`."""
        g = self.model.grid
        return {
            "correction": [float(pyo.value(g.correction[t])) for t in range(self.lin.steps)],
            "peak_excess": [float(pyo.value(g.peak_excess[t])) for t in range(self.lin.steps)],
        }

    def restore(self, saved: dict[str, list[float]]) -> None:
        """Put back a :meth:`snapshot` of the correction parameters."""
        g = self.model.grid
        for t in range(self.lin.steps):
            g.correction[t] = saved["correction"][t]
            g.peak_excess[t] = saved["peak_excess"][t]
        self.solver.refresh_rows([*g.balance.values(), *g.peak_def.values()])

    def solve(self) -> tuple[TerminationCondition, float | None]:
        """Solve (or re-solve) the current model; load the best solution if there is one.

        Returns the termination condition and the relative gap to the best bound (None when
        no bound is known).  :attr:`solution_loaded` tells whether a feasible solution was
        loaded into the model.
        """
        self.solution_loaded = False
        started = time.perf_counter()
        try:
            relax_and_fix = (
                self.options.model.min_power_method == "relax-and-fix"
                and len(self.model.workloads.running) > 0
            )
            if relax_and_fix:
                return self._relax_and_fix()
            return self._solve_once()
        finally:
            elapsed = time.perf_counter() - started
            self.timings["solve_s"] = self.timings.get("solve_s", 0.0) + elapsed

    def _solve_once(self, bound: float | None = None) -> tuple[TerminationCondition, float | None]:
        result = self.solver.solve(self.model)
        self.solution_loaded = False
        # a point HiGHS does not call primal feasible (e.g. the last iterate of an LP stopped
        # by the time limit) is never loaded; a bound comes from an optimum or a MIP search
        if not result.feasible:
            return result.condition, None
        self.solver.load_values()
        self.solution_loaded = True
        if bound is None:
            return result.condition, result.gap
        assert result.objective is not None
        return result.condition, max(result.objective - bound, 0.0) / max(
            abs(result.objective), 1e-9
        )

    def _relax_and_fix(self) -> tuple[TerminationCondition, float | None]:
        m = self.model
        running = m.workloads.running
        # appsi's relax_integrality is not honoured by its HiGHS interface: relax by domain
        for var in running.values():
            var.unfix()
            var.domain = pyo.UnitInterval
        try:
            result = self.solver.solve(m)
            if result.condition != TerminationCondition.optimal or result.objective is None:
                # infeasible, or stopped early: no lower bound and nothing sound to round
                return result.condition, None
            self.solver.load_values()
            bound = result.objective
            work = self.facility.workloads
            group = m.commitment_group
            for (j, period), var in running.items():
                steps = np.flatnonzero(group == period)
                mean = np.average(
                    [pyo.value(m.workloads.power[j, int(t)]) for t in steps],
                    weights=self.lin.step_hours[steps],
                )
                var.fix(1.0 if mean >= 0.5 * work.min_power[j] / WATTS_PER_KILOWATT else 0.0)
            condition, gap = self._solve_once(bound)
            if condition != TerminationCondition.infeasible:
                return condition, gap
        finally:
            for var in running.values():
                var.domain = pyo.Binary
        # Rounding can switch on a job-period in which a cap (demand response, contract, feed)
        # leaves room only below the job's minimum power: the fixed LP is infeasible although
        # pausing the job is not.  The relaxation was feasible, so let branch and bound decide.
        for var in running.values():
            var.unfix()
        return self._solve_once()

    def update(
        self,
        *,
        price: np.ndarray | None = None,
        carbon_intensity: np.ndarray | None = None,
        pv_capacity_factor: np.ndarray | None = None,
        initial_soc: float | None = None,
        job_energy_done: dict[str, float] | None = None,
    ) -> None:
        """Push new forecasts, battery SOC and job progress into the built model.

        Parameters
        ----------
        price
            [currency/MWh] per fine step of the series (or per period).
        carbon_intensity
            [g/kWh] per fine step (or per period).
        pv_capacity_factor
            [-] per fine step (or per period).
        initial_soc
            Battery state of charge now [-]; unless the model options set an end-of-horizon
            target, the battery must end at least here again (the model's default target).
        job_energy_done
            Tier-3 energy already delivered [kWh] by workload id.
        """
        m = self.model
        old_mean = self._mean_effective_price()
        if price is not None:
            for t, value in enumerate(self._per_period(price)):
                m.grid.price[t] = value / 1e3
        if carbon_intensity is not None:
            for t, value in enumerate(self._per_period(carbon_intensity)):
                m.grid.carbon[t] = value / 1e3
        if pv_capacity_factor is not None:
            for t, value in enumerate(self._per_period(pv_capacity_factor)):
                m.grid.pv[t] = (
                    self.facility.pv_peak * float(np.clip(value, 0, 1)) / WATTS_PER_KILOWATT
                )
        if price is not None or carbon_intensity is not None:
            # deferred tier-3 energy is valued at the horizon's mean effective price: follow it
            new_mean = self._mean_effective_price()
            if old_mean > 0:
                m.deferred_price = pyo.value(m.deferred_price) * new_mean / old_mean
        battery = self.facility.battery
        if initial_soc is not None and battery is not None:
            m.battery.initial_energy = initial_soc * battery.capacity / JOULES_PER_KWH
            if self.options.model.end_soc_target is None:
                # the default target is the initial SOC: no free energy from the battery
                m.battery.final_energy = initial_soc * battery.capacity / JOULES_PER_KWH
        if job_energy_done:
            work = self.facility.workloads
            for name, done in job_energy_done.items():
                j = work.ids.index(name)
                m.workloads.energy_target[j] = max(
                    float(work.energy[j]) / JOULES_PER_KWH - done, 0.0
                )
        self.solver.invalidate()  # parameters moved: the next solve recompiles

    def _per_period(self, values: np.ndarray) -> np.ndarray:
        """Per-step values (fine steps of the series, or periods) as period means."""
        values = np.asarray(values, dtype=float)
        if values.shape[0] == self.axis.steps and not self.axis.is_fine:
            return self.axis.reduce(values, "mean")
        if values.shape[0] != self.lin.steps:
            raise ValueError(
                f"expected {self.axis.steps} step or {self.lin.steps} period values, "
                f"got {values.shape[0]}"
            )
        return values

    def _mean_effective_price(self) -> float:
        """Mean of price + carbon price × intensity in the model [currency/kWh]."""
        m, carbon_price = self.model, self.facility.grid.carbon_price
        values = [
            pyo.value(m.grid.price[t]) + carbon_price * pyo.value(m.grid.carbon[t]) for t in m.T
        ]
        return float(np.mean(values)) if values else 0.0
