"""A persistent HiGHS model fed straight from a Pyomo model's sparse standard form.

Pyomo's persistent HiGHS interface (appsi) hands a model over one component at a time and,
before every re-solve, walks the whole model looking for changes: on a 1,000-rack day that
hand-over took 3.4 s against 0.29 s of HiGHS (``benchmarks/plan_scaling.py``).  Here the
model is compiled once by Pyomo's :class:`LinearStandardFormCompiler` into CSC arrays and
passed to ``highspy`` in one call; what changes between solves in the planner is pushed as
vectors:

* variable fixing, bounds and integrality (relax-and-fix, elastic slacks freed for a
  diagnosis): every column is compiled as a column, fixed or not, and each solve re-reads the
  columns' bounds and domains;
* lazy rows (inlet limits found violated by the verification): :meth:`DirectHighs.add_rows`
  and :meth:`DirectHighs.drop_rows`;
* anything else (forecasts, derating, SOC: mutable parameters inside rows and the
  objective): :meth:`DirectHighs.invalidate` and the next solve recompiles.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.core.expr.visitor import identify_variables
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

_banner_lock = threading.Lock()
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A silent ``highspy.Highs`` (``output_flag`` off).

    The first ``Highs()`` of a process writes a licence banner to the C-level stdout before
    any option can be set (HiGHS issue #2749); library code never prints, so that one
    construction runs with file descriptor 1 pointed at the null device.
    """
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
                _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def _constant_term(body: Any) -> float:
    """The constant of a linear expression: its value with every variable, fixed or not,
    at 0 (a repn would fold fixed variables into the constant; here they are columns)."""
    variables = list(identify_variables(body, include_fixed=True))
    saved = [v.value for v in variables]
    for v in variables:
        v.set_value(0.0, skip_validation=True)
    try:
        return float(pyo.value(body))
    finally:
        for v, value in zip(variables, saved, strict=True):
            v.set_value(value, skip_validation=True)


_STATUS = {
    highspy.HighsModelStatus.kOptimal: TerminationCondition.optimal,
    highspy.HighsModelStatus.kInfeasible: TerminationCondition.infeasible,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: TerminationCondition.infeasibleOrUnbounded,
    highspy.HighsModelStatus.kUnbounded: TerminationCondition.unbounded,
    highspy.HighsModelStatus.kTimeLimit: TerminationCondition.maxTimeLimit,
    highspy.HighsModelStatus.kIterationLimit: TerminationCondition.maxIterations,
    highspy.HighsModelStatus.kInterrupt: TerminationCondition.interrupted,
}
FEASIBLE_POINT = 2
"""``primal_solution_status`` of a feasible primal solution (HiGHS' kSolutionStatusFeasible)."""
"""``HighsInfo.primal_solution_status`` of a feasible point."""


@dataclass
class SolveResult:
    """What one HiGHS run gave.

    Attributes
    ----------
    condition
        Termination condition.
    feasible
        Whether HiGHS holds a primal-feasible point (optimal, or the incumbent of a stopped
        MIP search).
    objective
        Objective of that point [model currency], None without one.
    bound
        Proven lower bound [model currency] (an LP optimum or a MIP dual bound), None if
        HiGHS proved none.
    """

    condition: TerminationCondition
    feasible: bool
    objective: float | None
    bound: float | None

    @property
    def gap(self) -> float | None:
        """Relative gap between :attr:`objective` and :attr:`bound` [-]."""
        if self.objective is None or self.bound is None or not np.isfinite(self.bound):
            return None
        return max(self.objective - self.bound, 0.0) / max(abs(self.objective), 1e-9)


@dataclass
class DirectHighs:
    """A Pyomo model compiled once and kept in a ``highspy.Highs`` object between solves.

    Parameters
    ----------
    time_limit
        Wall-clock limit of each HiGHS run [s].
    mip_gap
        Relative MIP gap at which branch and bound stops [-].
    """

    time_limit: float = float("inf")
    mip_gap: float = 1e-4
    timings: dict[str, float] = field(default_factory=dict)
    """Accumulated ``handover_s`` (compile, pass, sync) and ``highs_s`` (HiGHS runs) [s] of
    wall-clock time, and ``highs_cpu_s``: the CPU time of this process during the HiGHS runs
    [s] (the solver's own time, fairer than wall time on a shared machine)."""
    solves: int = 0
    compiles: int = 0
    """Compilations of a model to standard form (the first solve, and after :meth:`invalidate`)."""
    _model: Any = None
    _highs: Any = None
    _columns: list[Any] = field(default_factory=list)
    _column_of: dict[int, int] = field(default_factory=dict)
    _rows_of: dict[Any, list[tuple[int, int]]] = field(default_factory=dict)
    _num_rows: int = 0

    def invalidate(self) -> None:
        """Recompile at the next solve (call after changing mutable parameters)."""
        self._model = None

    def solve(self, model: pyo.ConcreteModel) -> SolveResult:
        """Solve ``model`` (compiling it first if it is new or invalidated)."""
        started = time.perf_counter()
        if model is not self._model:
            self._compile(model)
        self._sync_columns()
        h = self._highs
        # HiGHS (1.x) compares time_limit with the run time summed over every run() of this
        # Highs object (ERGO-Code/HiGHS#1477): the limit is per solve from where it stands
        h.setOptionValue("time_limit", float(h.getRunTime()) + float(self.time_limit))
        h.setOptionValue("mip_rel_gap", float(self.mip_gap))
        ran, ran_cpu = time.perf_counter(), time.process_time()
        self._add("handover_s", ran - started)
        h.run()
        self._add("highs_cpu_s", time.process_time() - ran_cpu)
        self._add("highs_s", time.perf_counter() - ran)
        self.solves += 1
        return self._result()

    def load_values(self) -> None:
        """Copy the last primal solution into the model's unfixed variables."""
        # ``col_value`` is a list of Python floats: no conversion per value
        values = self._highs.getSolution().col_value
        for var, value in zip(self._columns, values, strict=True):
            if not var.fixed:
                var.set_value(value, skip_validation=True)

    def duals(self) -> dict[Any, float]:
        """Row duals of the last LP solve by constraint [objective units per row unit]."""
        row_dual = self._highs.getSolution().row_dual
        return {
            con: float(sum(row_dual[i] for i, _ in rows)) for con, rows in self._rows_of.items()
        }

    def solve_changed(
        self,
        model: pyo.ConcreteModel,
        rows: Mapping[Any, tuple[float, float]] | None = None,
        costs: Mapping[Any, float] | None = None,
    ) -> SolveResult:
        """Re-solve ``model`` warm with some row bounds and costs changed, then restore them.

        The compiled HiGHS model is changed in place (no rebuild, no recompile) and HiGHS
        starts from the basis of the previous solve.  Column bounds and fixing are read from
        the Pyomo variables at every solve: change them there before the call.

        Parameters
        ----------
        model
            The model (compiled first if it is not the one held).
        rows
            Constraint → (shift of its lower bound, shift of its upper bound) [row units];
            infinite bounds stay infinite.
        costs
            Variable → cost added to its objective coefficient [objective units per unit of
            the variable].

        Returns
        -------
        SolveResult
            The changed model's result; the held model is back to unchanged afterwards.
        """
        if model is not self._model:
            self._compile(model)
        h = self._highs
        index = [(i, con) for con in rows or {} for i, _ in self._rows_of.get(con, [])]
        row_index = np.array([i for i, _ in index], dtype=np.int32)
        columns = np.array([self._column_of[id(v)] for v in costs or {}], dtype=np.int32)
        restore_rows = restore_costs = None
        if row_index.size:
            _, _, lower, upper, _ = h.getRows(row_index.size, row_index)
            restore_rows = (lower.copy(), upper.copy())
            shift = np.array([(rows or {})[con] for _, con in index], dtype=float)
            finite_lower, finite_upper = np.isfinite(lower), np.isfinite(upper)
            lower[finite_lower] += shift[finite_lower, 0]
            upper[finite_upper] += shift[finite_upper, 1]
            h.changeRowsBounds(row_index.size, row_index, lower, upper)
        if columns.size:
            _, _, cost, _, _, _ = h.getCols(columns.size, columns)
            restore_costs = cost.copy()
            added = np.array(list((costs or {}).values()), dtype=float)
            h.changeColsCost(columns.size, columns, cost + added)
        try:
            return self.solve(model)
        finally:
            if restore_rows is not None:
                h.changeRowsBounds(row_index.size, row_index, *restore_rows)
            if restore_costs is not None:
                h.changeColsCost(columns.size, columns, restore_costs)

    def add_rows(self, constraints: Iterable[Any]) -> None:
        """Append active linear constraints added to the model since it was compiled.

        The rows go to HiGHS in one ``addRows`` call (one ``addRow`` per row costs about
        0.3 ms each in HiGHS, 20 s for the 60,000 inlet rows of a week's tightening).
        """
        if self._model is None:
            return
        lower: list[float] = []
        upper: list[float] = []
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        added: list[Any] = []
        for con in constraints:
            repn = generate_standard_repn(con.body, quadratic=False)
            if not repn.is_linear() or any(id(v) not in self._column_of for v in repn.linear_vars):
                self.invalidate()  # a new variable: recompile instead
                return
            starts.append(len(index))
            index.extend(self._column_of[id(v)] for v in repn.linear_vars)
            value.extend(float(coef) for coef in repn.linear_coefs)
            offset = float(repn.constant)
            lower.append(-highspy.kHighsInf if con.lower is None else pyo.value(con.lower) - offset)
            upper.append(highspy.kHighsInf if con.upper is None else pyo.value(con.upper) - offset)
            added.append(con)
        if not added:
            return
        self._highs.addRows(
            len(added),
            np.array(lower, dtype=float),
            np.array(upper, dtype=float),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=float),
        )
        for con in added:
            self._rows_of[con] = [(self._num_rows, 0)]
            self._num_rows += 1

    def refresh_rows(self, constraints: Iterable[Any]) -> None:
        """Re-read the bounds of compiled rows whose constants changed (mutable parameters
        that enter a row only as a constant term, such as the grid correction).

        The bounds go to HiGHS in one ``changeRowsBounds`` call instead of a recompile.  The
        rows' coefficients must not have changed (use :meth:`invalidate` for that).  HiGHS'
        basis is then dropped, so the next solve starts cold as on a recompiled model: the
        planning LP has alternative optima, and a warm start from the previous round's basis
        stops at another optimal vertex, whose relax-and-fix rounding and verified cost
        differ (real ERCOT July week: verified plan 58,660 USD warm against 58,307 USD
        recompiled; cold after the refresh 58,230 USD).
        """
        if self._model is None:
            return
        index: list[int] = []
        lower: list[float] = []
        upper: list[float] = []
        for con in constraints:
            rows = self._rows_of.get(con)
            if not rows:
                continue
            offset = _constant_term(con.body)
            low = -highspy.kHighsInf if con.lower is None else pyo.value(con.lower) - offset
            high = highspy.kHighsInf if con.upper is None else pyo.value(con.upper) - offset
            for i, kind in rows:  # kind: 0 equality, 1 upper bound row, -1 lower bound row
                index.append(i)
                lower.append(-highspy.kHighsInf if kind == 1 else low)
                upper.append(highspy.kHighsInf if kind == -1 else high)
        if index:
            self._highs.changeRowsBounds(
                len(index),
                np.array(index, dtype=np.int32),
                np.array(lower, dtype=float),
                np.array(upper, dtype=float),
            )
        self._highs.clearSolver()

    def drop_rows(self, constraints: Iterable[Any]) -> None:
        """Make deactivated constraints free rows (their row indices stay put)."""
        if self._model is None:
            return
        rows = [i for con in constraints for i, _ in self._rows_of.pop(con, [])]
        if rows:
            free = np.full(len(rows), highspy.kHighsInf)
            self._highs.changeRowsBounds(len(rows), np.array(rows, dtype=np.int32), -free, free)

    def _add(self, key: str, seconds: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + seconds

    def _compile(self, model: pyo.ConcreteModel) -> None:
        with PauseGC():  # a collection here walks every object of the model just built
            self._compile_model(model)

    def _compile_model(self, model: pyo.ConcreteModel) -> None:
        # fixed variables stay columns (fixed by their bounds) so that fixing and unfixing
        # between solves is a bound change, not a recompile
        fixed = [v for v in model.component_data_objects(pyo.Var, descend_into=True) if v.fixed]
        for var in fixed:
            var.unfix()
        try:
            repn = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
        finally:
            for var in fixed:
                var.fix()
        (objective,) = repn.objectives
        sense = 1 if objective.sense == pyo.minimize else -1
        a = repn.A.tocsc()
        rows, rhs = repn.rows, np.asarray(repn.rhs, dtype=float)
        kind = np.array([r[1] for r in rows], dtype=int)
        row_lower = np.where(kind == 1, -highspy.kHighsInf, rhs)
        row_upper = np.where(kind == -1, highspy.kHighsInf, rhs)
        self._columns = list(repn.columns)
        self._column_of = {id(v): i for i, v in enumerate(self._columns)}
        self._rows_of = {}
        for i, (con, k) in enumerate(rows):
            self._rows_of.setdefault(con, []).append((i, k))
        self._num_rows = len(rows)
        cost = np.asarray(repn.c.toarray()).ravel() if repn.c.shape[0] else np.zeros(a.shape[1])
        h = new_highs()
        n = len(self._columns)
        h.passModel(
            n,
            len(rows),
            int(a.nnz),
            int(highspy.MatrixFormat.kColwise),
            sense,
            float(repn.c_offset[0]) if len(repn.c_offset) else 0.0,
            cost.astype(float),
            np.zeros(n),
            np.zeros(n),
            row_lower.astype(float),
            row_upper.astype(float),
            a.indptr.astype(np.int32),
            a.indices.astype(np.int32),
            a.data.astype(float),
            np.zeros(n, dtype=np.int32),
        )
        self._highs = h
        self._model = model
        self.compiles += 1

    def _sync_columns(self) -> None:
        # a Python loop, but not the hand-over's cost: 7 ms CPU for the 17,116 columns of a
        # 1,000-rack day (two thirds fixed), the HiGHS calls 3 ms; one compile is ~0.4 s
        n = len(self._columns)
        lower, upper = np.empty(n), np.empty(n)
        integer = np.zeros(n, dtype=np.uint8)
        inf = highspy.kHighsInf
        for i, var in enumerate(self._columns):
            if var.fixed:
                lower[i] = upper[i] = var.value
                continue
            lb, ub = var.bounds
            lower[i] = -inf if lb is None else lb
            upper[i] = inf if ub is None else ub
            integer[i] = var.is_integer()
        index = np.arange(n, dtype=np.int32)
        self._highs.changeColsBounds(n, index, lower, upper)
        self._highs.changeColsIntegrality(n, index, integer)

    def _result(self) -> SolveResult:
        h = self._highs
        status = h.getModelStatus()
        condition = _STATUS.get(status, TerminationCondition.error)
        info = h.getInfo()
        feasible = condition == TerminationCondition.optimal or (
            info.primal_solution_status == FEASIBLE_POINT
            and condition == TerminationCondition.maxTimeLimit
        )
        objective = float(info.objective_function_value) if feasible else None
        bound: float | None = None
        if condition == TerminationCondition.optimal:
            mip = info.mip_node_count >= 0
            bound = float(info.mip_dual_bound) if mip else objective
        elif info.mip_node_count >= 0 and np.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound)
        return SolveResult(condition, feasible, objective, bound)
