"""Installation self-check: versions, and a toy LP solved the way the planner solves (Pyomo
model, HiGHS through :class:`optimizer.highs_direct.DirectHighs`)."""

from __future__ import annotations

import importlib
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata

REQUIRED = (
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5netcdf",
    "pyomo",
    "highspy",
    "pydantic",
    "pint",
)


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    """All checks; ``ok`` when every check passed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)


def _toy_lp() -> Check:
    """Solve min 2x + 3y s.t. x + y >= 3, 0 <= x <= 2: optimum x=2, y=1, objective 7.

    The LP goes the planner's way: a Pyomo model compiled to standard form and solved by
    ``highspy`` through :class:`optimizer.highs_direct.DirectHighs`, solution loaded back.
    """
    import pyomo.environ as pyo

    from optimizer.highs_direct import DirectHighs

    model = pyo.ConcreteModel()
    model.x = pyo.Var(bounds=(0, 2))
    model.y = pyo.Var(bounds=(0, None))
    model.demand = pyo.Constraint(expr=model.x + model.y >= 3)
    model.cost = pyo.Objective(expr=2 * model.x + 3 * model.y)
    solver = DirectHighs(time_limit=60.0)
    started = time.perf_counter()
    result = solver.solve(model)
    elapsed = time.perf_counter() - started
    if not result.feasible:
        return Check("toy LP (Pyomo + HiGHS)", False, f"HiGHS stopped with {result.condition.name}")
    solver.load_values()
    objective = pyo.value(model.cost)
    ok = abs(objective - 7.0) < 1e-6 and abs(pyo.value(model.x) - 2.0) < 1e-6
    return Check(
        "toy LP (Pyomo + HiGHS)", ok, f"objective {objective:.6g} (expected 7) in {elapsed:.3f} s"
    )


def run_checks() -> DoctorReport:
    """Check Python, the required packages and a HiGHS solve; never raises."""
    report = DoctorReport()
    version_ok = sys.version_info >= (3, 11)
    report.checks.append(
        Check("python", version_ok, f"{platform.python_version()} (needs >= 3.11)")
    )
    for name in REQUIRED:
        try:
            importlib.import_module(name)
            report.checks.append(Check(name, True, metadata.version(name)))
        except Exception as exc:  # an install check must report, not crash
            report.checks.append(Check(name, False, f"import failed: {exc}"))
    try:
        report.checks.append(_toy_lp())
    except Exception as exc:
        report.checks.append(Check("toy LP (Pyomo + HiGHS)", False, f"{type(exc).__name__}: {exc}"))
    return report
