"""Scenario sweeps: many variants of one scenario, each simulated and planned, into one Zarr store.

A sweep file (YAML) names a base scenario and the fields to vary::

    base: demo-hall.yaml            # relative to the sweep file
    horizon: 24 h                   # planning window of every point (default 24 h)
    step: 15 min
    grid:                           # cartesian product of value lists
      battery.energy: [1000, 2000, 4000]
      grid.carbon_price: [0, 50, 150]
    set:                            # applied to every point, not swept
      workloads[id=finetune-batch].release: 0 h
    random:                         # and/or random samples (combined with the grid by product)
      samples: 8
      seed: 1
      fields:
        cooling.units[*].supply_temperature_max: {uniform: [24, 27]}
        series[0].zone: {choice: [US-TEX-ERCO, US-CAL-CISO]}
    gpus_per_rack: {gpu-120: 64}    # for cost and carbon per GPU-hour

Paths are dotted keys into the scenario YAML with ``[n]`` (list index), ``[*]`` (every item)
and ``[id=X]`` (the item whose ``id`` is X).  Every point is the base scenario with its
overrides applied, validated by :func:`twin.scenario.scenario_from_dict`, then compiled,
simulated as operated and planned with verification (:func:`optimizer.plan.plan`).  A point
that fails records its error and the sweep goes on.

Results are one :class:`xarray.Dataset` with a ``scenario`` dimension (one coordinate per
swept field holding its value), written to a Zarr store created up front for all points;
finished chunks are written with ``to_zarr(region=...)`` and a ``done`` flag, so re-running
the same sweep resumes where it stopped.  The sweep's hash is kept in the store's attributes
and a different sweep is refused.  Points run on a local process pool or on a Dask
distributed cluster (``scheduler`` address).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import xarray as xr
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.scenario import Duration, ScenarioError, scenario_from_dict
from twin.scenario_errors import format_validation_error

DEFAULT_CHUNK_SIZE = 16
MAX_POINTS = 1_000_000
KWH = 3.6e6  # J per kWh

# --------------------------------------------------------------------------------------------
# sweep file


class SweepError(ValueError):
    """A sweep that cannot run: one message per problem (``.problems``)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problem(s):"]
        return "\n".join(lines + [f"  - {p}" for p in self.problems])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Uniform(_Strict):
    """A value drawn uniformly between two bounds."""

    uniform: tuple[float, float] = Field(description="Lower and upper bound [field unit].")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.uniform[0] <= self.uniform[1]:
            raise ValueError(f"uniform bounds must be ordered, got {list(self.uniform)}")
        return self


class Choice(_Strict):
    """A value drawn from a list with equal probabilities."""

    choice: list[Any] = Field(min_length=1, description="Values to choose from.")


class RandomSamples(_Strict):
    """Random points: ``samples`` draws of every field, reproducible by ``seed``."""

    samples: int = Field(ge=1, le=MAX_POINTS, description="Number of random draws [-].")
    seed: int = Field(0, description="Seed of the random generator.")
    fields: dict[str, Uniform | Choice] = Field(min_length=1, description="Path → distribution.")


class SweepSpec(_Strict):
    """The sweep file."""

    base: str = Field(description="Base scenario file, relative to the sweep file.")
    horizon: Duration = Field(timedelta(hours=24), description="Planning window of each point.")
    step: Duration = Field(timedelta(minutes=15), description="Time step.")
    start: AwareDatetime | None = Field(None, description="First instant (default: the base's).")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Path → value applied to every point (not swept)."
    )
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict, description="Path → list of values (cartesian product)."
    )
    random: RandomSamples | None = Field(None, description="Random samples.")
    gpus_per_rack: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="GPUs in one rack of each rack type [-]."
    )
    time_limit: float = Field(60.0, gt=0, description="HiGHS time limit per solve [s].")
    mip_gap: float = Field(5e-3, ge=0, description="Relative MIP gap [-].")
    shadow_prices: bool = Field(False, description="Price relaxed limits (extra solves).")

    @model_validator(mode="after")
    def _fields_once(self) -> SweepSpec:
        swept = [*self.grid, *(self.random.fields if self.random else {})]
        seen = [*swept, *self.set]
        twice = sorted({name for name in seen if seen.count(name) > 1})
        if twice:
            raise ValueError(
                f"field(s) given more than once in set/grid/random: {', '.join(twice)}"
            )
        if self.horizon < self.step or self.horizon % self.step:
            raise ValueError(
                f"horizon {self.horizon} is not a whole number of steps of {self.step}"
            )
        return self


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its spec, the base scenario (as a dict) and its points."""

    spec: SweepSpec
    source: str
    """Where the spec came from (a path, for messages)."""
    base: dict[str, Any]
    """The base scenario as read from YAML."""
    base_dir: Path
    """Folder of the base scenario (series paths are relative to it)."""
    fields: list[str]
    """Swept paths, grid first then random, in file order."""
    points: list[dict[str, Any]]
    """Overrides of every point: path → value."""

    @property
    def size(self) -> int:
        """Number of points [-]."""
        return len(self.points)

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the spec, the base scenario and every point (a resume must match)."""
        payload = json.dumps(
            {
                "spec": self.spec.model_dump(mode="json"),
                "base": self.base,
                "points": self.points,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def scenario(self, index: int) -> dict[str, Any]:
        """The scenario dict of point ``index``: base, then the window, then the overrides."""
        data = copy.deepcopy(self.base)
        window = dict(data.get("simulation") or {})
        window["duration"] = f"{self.spec.horizon.total_seconds():g} s"
        window["step"] = f"{self.spec.step.total_seconds():g} s"
        if self.spec.start is not None:
            window["start"] = self.spec.start.isoformat()
        data["simulation"] = window
        for path, value in self.spec.set.items():
            set_path(data, path, value)
        for path, value in self.points[index].items():
            set_path(data, path, value)
        return data


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file.

    Parameters
    ----------
    path
        Sweep YAML file.

    Returns
    -------
    Sweep

    Raises
    ------
    SweepError
        One message per problem: unreadable file, schema errors (field path, value,
        expectation), a base scenario that does not load, a swept path that does not exist.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(str(path), [f"cannot read file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SweepError(str(path), [f"not valid YAML: {exc}"]) from None
    return sweep_from_dict(data, path.parent, str(path))


def sweep_from_dict(data: Any, folder: Path, source: str = "<sweep>") -> Sweep:
    """Validate a sweep given as a dict (see :func:`load_sweep`).

    Parameters
    ----------
    data
        The sweep file's content.
    folder
        Folder ``base`` is relative to (the sweep file's).
    source
        Name used in messages.

    Returns
    -------
    Sweep

    Raises
    ------
    SweepError
        One message per problem.
    """
    if not isinstance(data, dict):
        raise SweepError(source, ["expected a mapping with base:, grid: and/or random:"])
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(source, format_validation_error(exc, data)) from None
    base_path = (folder / spec.base).resolve()
    try:
        base = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(
            source, [f"base: cannot read {base_path}: {exc.strerror or exc}"]
        ) from None
    except yaml.YAMLError as exc:
        raise SweepError(source, [f"base: {base_path} is not valid YAML: {exc}"]) from None
    try:
        scenario = scenario_from_dict(base, str(base_path))
    except ScenarioError as exc:
        raise SweepError(
            source, [f"base scenario {line}" for line in str(exc).splitlines()]
        ) from None
    problems: list[str] = []
    fields = list(spec.grid) + list(spec.random.fields if spec.random else {})
    for name in [*spec.set, *fields]:
        problem = _check_path(base, name)
        if problem:
            problems.append(problem)
    known_types = set(scenario.rack_types)
    for name in spec.gpus_per_rack:
        if name not in known_types:
            problems.append(
                f"gpus_per_rack.{name}: no such rack type (known: {', '.join(sorted(known_types))})"
            )
    if problems:
        raise SweepError(source, problems)
    points = _points(spec)
    if len(points) > MAX_POINTS:
        raise SweepError(source, [f"{len(points)} points is more than {MAX_POINTS}"])
    return Sweep(spec, source, base, base_path.parent, fields, points)


def _points(spec: SweepSpec) -> list[dict[str, Any]]:
    grid = [
        dict(zip(spec.grid, values, strict=True))
        for values in itertools.product(*spec.grid.values())
    ]
    if spec.random is None:
        return grid
    rng = np.random.default_rng(spec.random.seed)
    draws: list[dict[str, Any]] = [{} for _ in range(spec.random.samples)]
    for name, dist in spec.random.fields.items():
        if isinstance(dist, Uniform):
            values: list[Any] = rng.uniform(*dist.uniform, size=spec.random.samples).tolist()
        else:
            picks = rng.integers(0, len(dist.choice), size=spec.random.samples)
            values = [dist.choice[int(i)] for i in picks]
        for draw, value in zip(draws, values, strict=True):
            draw[name] = value
    return [{**g, **d} for g in grid for d in draws]


# --------------------------------------------------------------------------------------------
# dotted paths

_TOKEN = re.compile(r"\[(\*|\d+|id=[^\]]+)\]|\.?([^.\[\]]+)")


class PathError(KeyError):
    """A swept path that does not exist in the scenario."""

    def __str__(self) -> str:
        return str(self.args[0])


def _tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None or match.end() == pos:
            raise PathError(f"{path}: cannot read the path at {path[pos:]!r}")
        index, key = match.groups()
        if index is None:
            tokens.append(key)
        elif index == "*":
            tokens.append("*")
        elif index.startswith("id="):
            tokens.append(index)
        else:
            tokens.append(int(index))
        pos = match.end()
    return tokens


def _containers(data: Any, path: str) -> list[tuple[Any, str | int]]:
    """(container, key) pairs the path's last token refers to; PathError when it cannot."""
    tokens = _tokens(path)
    current: list[Any] = [data]
    shown = ""
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        pairs: list[tuple[Any, str | int]] = []
        for node in current:
            pairs += _step(node, token, path, shown, last)
        if last:
            return pairs
        current = [c[k] for c, k in pairs]
        bracket = isinstance(token, int) or token == "*" or token.startswith("id=")
        shown += f"[{token}]" if bracket else (f".{token}" if shown else str(token))
    raise PathError(f"{path}: empty path")


def _step(
    node: Any, token: str | int, path: str, shown: str, last: bool
) -> list[tuple[Any, str | int]]:
    where = shown or "the scenario"
    if token == "*":
        if not isinstance(node, list):
            raise PathError(f"{path}: {where} is not a list, [*] does not apply")
        return [(node, i) for i in range(len(node))]
    if isinstance(token, int):
        if not isinstance(node, list):
            raise PathError(f"{path}: {where} is not a list, [{token}] does not apply")
        if token >= len(node):
            raise PathError(f"{path}: {where} has {len(node)} item(s), no [{token}]")
        return [(node, token)]
    if token.startswith("id="):
        wanted = token[3:]
        if not isinstance(node, list):
            raise PathError(f"{path}: {where} is not a list, [{token}] does not apply")
        found = [
            i
            for i, item in enumerate(node)
            if isinstance(item, dict) and str(item.get("id")) == wanted
        ]
        if not found:
            ids = [str(item.get("id")) for item in node if isinstance(item, dict)]
            raise PathError(
                f"{path}: {where} has no item with id {wanted} (known: {', '.join(ids)})"
            )
        return [(node, found[0])]
    if not isinstance(node, dict):
        raise PathError(f"{path}: {where} is not a mapping, .{token} does not apply")
    if token not in node and not last:
        raise PathError(
            f"{path}: {where} has no key {token!r} (known: {', '.join(map(str, node)) or 'none'})"
        )
    return [(node, token)]


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` of a scenario dict, in place.

    Parameters
    ----------
    data
        Scenario as a dict (as read from YAML).
    path
        ``a.b[0].c``, ``a.items[*].c`` (every item), ``a.items[id=X].c`` (the item with id X).
    value
        Any YAML value (a number in the field's documented unit or a string with a unit).

    Raises
    ------
    PathError
        The path does not exist (an intermediate key, an index or an id is missing).
    """
    for container, key in _containers(data, path):
        container[key] = copy.deepcopy(value)


def _check_path(base: dict[str, Any], path: str) -> str | None:
    """Why ``path`` is not a field of the base scenario, or None."""
    try:
        pairs = _containers(base, path)
    except PathError as exc:
        return str(exc)
    if not pairs:
        return f"{path}: matches no item (an empty list)"
    missing = [(c, k) for c, k in pairs if isinstance(c, dict) and k not in c]
    if not missing:
        return None
    # a key the base leaves at its default: accepted only if the schema knows it
    probe = copy.deepcopy(base)
    for container, key in _containers(probe, path):
        container[key] = 0
    try:
        scenario_from_dict(probe)
    except ScenarioError as exc:
        unknown = [p for p in exc.problems if "unknown field" in p]
        if unknown:
            return f"{path}: no such field in the scenario ({unknown[0]})"
    return None


# --------------------------------------------------------------------------------------------
# result variables

Kind = Literal["float", "text"]


@dataclass(frozen=True)
class ResultVariable:
    """One per-point result: name, CF units (``currency`` replaced), long name."""

    name: str
    units: str
    long_name: str
    kind: Kind = "float"


def _rv(name: str, units: str, long_name: str, kind: Kind = "float") -> ResultVariable:
    return ResultVariable(name, units, long_name, kind)


_PLAN_FIGURES: tuple[ResultVariable, ...] = (
    _rv("cost", "currency", "Total cost of the verified plan"),
    _rv("energy_cost", "currency", "Energy cost"),
    _rv("demand_charge", "currency", "Demand charge on the peak import"),
    _rv("carbon_cost", "currency", "Carbon price times emissions"),
    _rv("battery_wear_cost", "currency", "Battery wear cost"),
    _rv("lateness_cost", "currency", "Tier-3 lateness penalty"),
    _rv("unserved_cost", "currency", "Tier-3 unserved-energy penalty"),
    _rv("deferred_cost", "currency", "Value of tier-3 energy deferred past the horizon"),
    _rv("carbon_kg", "kg", "Emissions (CO2e)"),
    _rv("peak_grid_kw", "kW", "Peak grid import"),
    _rv("grid_energy_kwh", "kW h", "Grid energy imported"),
    _rv("it_energy_kwh", "kW h", "IT energy"),
    _rv("cooling_energy_kwh", "kW h", "Cooling energy"),
    _rv("pue", "1", "Power usage effectiveness"),
    _rv("max_inlet_temperature_c", "degC", "Hottest rack inlet temperature"),
)
_BASELINE_KEYS = (
    "cost",
    "energy_cost",
    "demand_charge",
    "carbon_kg",
    "peak_grid_kw",
    "it_energy_kwh",
    "cooling_energy_kwh",
    "pue",
)
_BASELINES = {"as_operated": "as-operated baseline", "rule_based": "rule-based baseline"}


def result_variables() -> list[ResultVariable]:
    """Every per-point variable of a sweep result, in store order.

    Returns
    -------
    list of ResultVariable
        Name, CF units (``currency`` stands for the scenario's currency) and long name.
    """
    figures = {v.name: v for v in _PLAN_FIGURES}
    out = list(_PLAN_FIGURES)
    out += [
        _rv("power_chain_loss_kwh", "kW h", "Power-chain losses (UPS, rectifiers, busbar, IBC)"),
        _rv("other_energy_kwh", "kW h", "Facility energy neither IT, cooling nor power chain"),
        _rv("facility_energy_kwh", "kW h", "Facility energy"),
    ]
    for key, label in _BASELINES.items():
        out += [
            _rv(f"{key}_{name}", figures[name].units, f"{figures[name].long_name}, {label}")
            for name in _BASELINE_KEYS
        ]
        out.append(_rv(f"{key}_violations", "1", f"Limits broken, {label}"))
    out += [
        _rv("as_operated_power_chain_loss_kwh", "kW h", "Power-chain losses, as-operated baseline"),
        _rv("verified", "1", "Plan re-simulated without any broken limit (1) or not (0)"),
        _rv("violations", "1", "Limits broken by the released plan"),
        _rv("rounds", "1", "Verify-and-resolve rounds"),
        _rv("gap", "1", "Relative MIP gap of the released plan"),
        _rv("sla_tier1", "1", "Tier-1 SLA attainment (share of steps at full demand)"),
        _rv("sla_tier2", "1", "Tier-2 SLA attainment (share of steps within the delay limit)"),
        _rv("sla_tier3", "1", "Tier-3 SLA attainment (share of job energy deliverable on time)"),
        _rv("gpu_hours", "h", "Provisioned GPU-hours over the horizon"),
        _rv("gpu_busy_hours", "h", "Utilization-weighted GPU-hours of the plan"),
        _rv("contract_capacity_kw", "kW", "Contracted grid import limit"),
        _rv("dr_hours", "h", "Demand-response event time inside the horizon"),
        _rv("dr_max_excess_kw", "kW", "Worst import above the DR cap, plan (<= 0: met)"),
        _rv(
            "as_operated_dr_max_excess_kw",
            "kW",
            "Worst import above the DR cap, as-operated (<= 0: met)",
        ),
        _rv("dr_shed_kw", "kW", "Mean import reduction vs as-operated during DR events"),
        _rv("solve_seconds", "s", "Planner time (linearize, build, solve, verify)"),
        _rv("elapsed_seconds", "s", "Wall time of the whole point"),
        _rv("computed_at", "1", "When the point finished (ISO 8601, UTC)", "text"),
        _rv("status", "1", "Plan status or 'error'", "text"),
        _rv("error", "1", "Error message of a failed point", "text"),
        _rv("worker", "1", "Host and process that computed the point", "text"),
        _rv("run_id", "1", "Identifier of the sweep run that computed the point", "text"),
    ]
    return out


TIMING_VARIABLES = ("solve_seconds", "elapsed_seconds", "computed_at", "worker", "run_id")
"""Variables that differ between two runs of the same point (time, place, run)."""


# --------------------------------------------------------------------------------------------
# one point


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to evaluate one point (picklable)."""

    index: int
    scenario: dict[str, Any]
    base_dir: str
    gpus_per_rack: dict[str, int]
    time_limit: float
    mip_gap: float
    shadow_prices: bool
    run_id: str


_SINGLE_THREADED = False


def _single_threaded_highs() -> None:
    """Start HiGHS's global scheduler with one thread in this process (once)."""
    global _SINGLE_THREADED
    if _SINGLE_THREADED:
        return
    from optimizer.highs_direct import new_highs

    h = new_highs()
    h.setOptionValue("threads", 1)
    h.addVar(0.0, 1.0)
    h.changeColCost(0, 1.0)
    h.run()
    _SINGLE_THREADED = True


def evaluate_point(task: PointTask) -> dict[str, Any]:
    """Compile, simulate as operated, plan and verify one point; never raises.

    Parameters
    ----------
    task
        The point's scenario dict and options.

    Returns
    -------
    dict
        ``index`` and one value per :func:`result_variables` name (energies [kWh], powers
        [kW], costs [currency], carbon [kg], shares [-], times [s]); ``status`` is ``error``
        and ``error`` says why when the point failed.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {"index": task.index}
    try:
        _single_threaded_highs()
        record.update(_evaluate(task))
        record["error"] = ""
    except ScenarioError as exc:
        record.update(status="error", error="; ".join(exc.problems))
    except Exception as exc:  # a failed point is recorded, the sweep goes on
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    record["elapsed_seconds"] = time.perf_counter() - started
    record["computed_at"] = datetime.now(UTC).isoformat(timespec="microseconds")
    record["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    record["run_id"] = task.run_id
    return record


def _evaluate(task: PointTask) -> dict[str, Any]:
    from optimizer.baselines import as_operated
    from optimizer.plan import PlanOptions, plan
    from physics.simulate import simulate
    from twin.compile import compile_facility
    from twin.series import scenario_series

    spec = scenario_from_dict(task.scenario, f"point {task.index}")
    series = scenario_series(spec, Path(task.base_dir))
    facility = compile_facility(spec)
    operated_schedule = as_operated(facility, series)
    operated = simulate(facility, operated_schedule, series, per_rack=False)
    options = PlanOptions(
        time_limit=task.time_limit, mip_gap=task.mip_gap, shadow_prices=task.shadow_prices
    )
    planned = plan(facility, series, options)
    ds = planned.result
    step = float(ds.attrs["step_seconds"])
    hours = step / 3600.0
    out: dict[str, Any] = {k: float(planned.figures[k]) for k in (v.name for v in _PLAN_FIGURES)}

    def energy(dataset: xr.Dataset, name: str) -> float:
        return float(dataset[name].sum()) * step / KWH

    out["power_chain_loss_kwh"] = energy(ds, "power_chain_loss")
    out["facility_energy_kwh"] = energy(ds, "facility_power")
    out["other_energy_kwh"] = (
        out["facility_energy_kwh"]
        - out["it_energy_kwh"]
        - out["cooling_energy_kwh"]
        - out["power_chain_loss_kwh"]
    )
    if abs(out["other_energy_kwh"]) < 1e-9 * max(out["facility_energy_kwh"], 1.0):
        out["other_energy_kwh"] = 0.0  # round-off of the energy balance
    out["as_operated_power_chain_loss_kwh"] = energy(operated, "power_chain_loss")
    for key in _BASELINES:
        for name in _BASELINE_KEYS:
            out[f"{key}_{name}"] = float(planned.baselines[key][name])
        out[f"{key}_violations"] = float(len(planned.baseline_violations[key]))
    out["verified"] = float(planned.verified)
    out["violations"] = float(len(planned.violations))
    out["rounds"] = float(planned.rounds)
    out["gap"] = float("nan") if planned.gap is None else float(planned.gap)
    out.update(
        _sla(facility, operated_schedule.workload_power, planned.schedule.workload_power, ds, step)
    )
    gpus = np.array(
        [task.gpus_per_rack.get(str(t), 0) for t in facility.racks.type_name], dtype=float
    )
    if task.gpus_per_rack:
        out["gpu_hours"] = float(gpus.sum()) * ds.sizes["time"] * hours
        utilization = ds["rack_utilization"].transpose("time", "rack").values
        out["gpu_busy_hours"] = float((utilization * gpus).sum()) * hours
    else:
        out["gpu_hours"] = out["gpu_busy_hours"] = float("nan")
    out["contract_capacity_kw"] = facility.grid.contract_capacity / 1e3
    out.update(_demand_response(ds, operated, hours))
    out["solve_seconds"] = float(sum(planned.timings.values()))
    out["status"] = planned.status
    return out


def _sla(
    facility: Any, demand: np.ndarray, served: np.ndarray, ds: xr.Dataset, step: float
) -> dict[str, float]:
    """SLA attainment per tier [-] (NaN when the tier has no workload)."""
    work = facility.workloads
    steps = demand.shape[0]
    out: dict[str, float] = {}
    tol = 1.0  # W
    tier1 = np.flatnonzero(work.tier == 1)
    out["sla_tier1"] = (
        float(np.mean(served[:, tier1] >= demand[:, tier1] * (1 - 1e-6) - tol))
        if tier1.size
        else float("nan")
    )
    tier2 = np.flatnonzero(work.tier == 2)
    if tier2.size:
        met = []
        for j in tier2:
            delay = (
                int(np.floor(float(work.max_delay[j]) / step))
                if np.isfinite(work.max_delay[j])
                else 0
            )
            due = np.concatenate([np.zeros(delay), np.cumsum(demand[:, j])])[:steps]
            met.append(np.cumsum(served[:, j]) >= due * (1 - 1e-6) - tol)
        out["sla_tier2"] = float(np.mean(met))
    else:
        out["sla_tier2"] = float("nan")
    tier3 = np.flatnonzero(work.tier == 3)
    if tier3.size:
        time_axis = ds["time"].values
        end = time_axis + np.timedelta64(int(step * 1e9), "ns")
        required = delivered = 0.0
        for j in tier3:
            energy = served[:, j] * step
            on_time = float(energy[end <= work.deadline[j]].sum())
            after = max((work.deadline[j] - end[-1]) / np.timedelta64(1, "s"), 0.0)
            left = max(float(work.energy[j]) - float(energy.sum()), 0.0)
            required += float(work.energy[j])
            delivered += min(
                on_time + min(left, float(work.max_power[j]) * after), float(work.energy[j])
            )
        out["sla_tier3"] = delivered / required if required > 0 else float("nan")
    else:
        out["sla_tier3"] = float("nan")
    return out


def _demand_response(ds: xr.Dataset, operated: xr.Dataset, hours: float) -> dict[str, float]:
    """DR event time [h], worst excess over the cap [kW], mean import shed [kW]."""
    cap = ds["dr_import_cap"].values if "dr_import_cap" in ds else np.full(ds.sizes["time"], np.nan)
    event = np.isfinite(cap)
    if not event.any():
        nan = float("nan")
        return {
            "dr_hours": 0.0,
            "dr_max_excess_kw": nan,
            "as_operated_dr_max_excess_kw": nan,
            "dr_shed_kw": nan,
        }
    plan_grid = ds["grid_power"].values[event]
    base_grid = operated["grid_power"].values[event]
    return {
        "dr_hours": float(event.sum()) * hours,
        "dr_max_excess_kw": float(np.max(plan_grid - cap[event])) / 1e3,
        "as_operated_dr_max_excess_kw": float(np.max(base_grid - cap[event])) / 1e3,
        "dr_shed_kw": float(np.mean(base_grid - plan_grid)) / 1e3,
    }


# --------------------------------------------------------------------------------------------
# the store


def _coordinate_name(path: str, taken: set[str]) -> str:
    name = path.replace("[*]", "_all").replace("[id=", "_").replace("[", "_").replace("]", "")
    name = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "field"
    candidate, n = name, 2
    while candidate in taken or candidate == "scenario":
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _field_unit(path: str) -> str | None:
    """The documented unit of a scenario field (``kW``) from its description, if any."""
    from typing import Union, get_args, get_origin

    from twin.scenario import Scenario

    node: Any = Scenario
    description = ""
    for token in _tokens(path):
        if isinstance(token, str) and not token.startswith("id=") and token != "*":
            if (
                isinstance(node, type)
                and issubclass(node, BaseModel)
                and token in node.model_fields
            ):
                info = node.model_fields[token]
                description = info.description or ""
                node = info.annotation
            elif get_origin(node) is dict:
                node = get_args(node)[1]
            else:
                return None
        else:
            if get_origin(node) is list:
                node = get_args(node)[0]
            else:
                return None
        while get_origin(node) in (Union, __import__("types").UnionType):
            args = [a for a in get_args(node) if a is not type(None)]
            node = args[0] if len(args) == 1 else node
            if len(args) != 1:
                break
    match = re.search(r"\[([^\]]+)\]\.?\s*$", description)
    if not match:
        return None
    unit = match.group(1)
    return "1" if unit == "-" else unit.replace("°C", "degC")


def _field_coordinate(sweep: Sweep, path: str) -> tuple[np.ndarray, dict[str, str]]:
    values = [point[path] for point in sweep.points]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    attrs = {"long_name": f"Swept field {path}", "sweep_path": path}
    if numeric:
        unit = _field_unit(path) or "1"
        attrs["units"] = unit.replace("currency", _currency(sweep))
        return np.asarray(values, dtype=float), attrs
    attrs["units"] = "1"
    attrs["description"] = "value as written in the sweep file"
    texts = [v if isinstance(v, str) else json.dumps(v, default=str) for v in values]
    return np.asarray(texts, dtype=object), attrs


def _currency(sweep: Sweep) -> str:
    grid = sweep.base.get("grid") or {}
    return str(grid.get("currency", "USD")) if isinstance(grid, dict) else "USD"


def empty_results(sweep: Sweep) -> xr.Dataset:
    """The result dataset of ``sweep`` with nothing computed (NaN, empty text, ``done`` 0).

    Parameters
    ----------
    sweep
        The sweep.

    Returns
    -------
    xarray.Dataset
        Dimension ``scenario``; one coordinate per swept field; CF attrs on every variable.
    """
    n = sweep.size
    currency = _currency(sweep)
    data: dict[str, Any] = {}
    for var in result_variables():
        attrs = {"units": var.units.replace("currency", currency), "long_name": var.long_name}
        if var.kind == "text":
            data[var.name] = ("scenario", np.full(n, "", dtype=object), attrs)
        else:
            data[var.name] = ("scenario", np.full(n, np.nan), attrs)
    data["done"] = (
        "scenario",
        np.zeros(n, dtype=np.int8),
        {"units": "1", "long_name": "Point computed (1) or not yet (0)"},
    )
    coords: dict[str, Any] = {
        "scenario": ("scenario", np.arange(n), {"units": "1", "long_name": "Sweep point index"})
    }
    taken: set[str] = set()
    names = {}
    for path in sweep.fields:
        name = _coordinate_name(path, taken)
        names[name] = path
        values, attrs = _field_coordinate(sweep, path)
        coords[name] = ("scenario", values, attrs)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        {
            "title": f"dctwin sweep of {Path(sweep.spec.base).name}",
            "Conventions": "CF-1.8",
            "sweep_file": sweep.source,
            "base_scenario": sweep.spec.base,
            "spec_hash": sweep.spec_hash,
            "horizon_seconds": sweep.spec.horizon.total_seconds(),
            "step_seconds": sweep.spec.step.total_seconds(),
            "fields": json.dumps(names),
            "gpus_per_rack": json.dumps(sweep.spec.gpus_per_rack),
            "currency": currency,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    return ds


def _open(out: Path) -> xr.Dataset:
    return xr.open_zarr(out, consolidated=False)


def open_results(path: str | Path) -> xr.Dataset:
    """Load a sweep result store into memory, text variables as Python ``str`` objects.

    Parameters
    ----------
    path
        Zarr store written by :func:`run_sweep`.

    Returns
    -------
    xarray.Dataset
        Dimension ``scenario``; every variable with ``units`` and ``long_name``.
    """
    ds = xr.open_zarr(path, consolidated=False).load()
    return plain_text(ds)


def plain_text(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with NumPy ``StringDType`` variables (Zarr v3 text) turned into object arrays.

    Parameters
    ----------
    ds
        A dataset, modified in place.

    Returns
    -------
    xarray.Dataset
        The same dataset.
    """
    for name in list(ds.variables):
        values = ds[name].values
        if values.dtype.kind == "T":
            converted = np.array([str(v) for v in values.ravel()], dtype=object).reshape(
                values.shape
            )
            ds[name] = ds[name].copy(data=converted)
    return ds


def prepare_store(
    sweep: Sweep, out: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> xr.Dataset:
    """Create the Zarr store of ``sweep`` at ``out``, or check that an existing one matches.

    Parameters
    ----------
    sweep
        The sweep.
    out
        Zarr store folder.
    chunk_size
        Points per Zarr chunk along ``scenario`` [-] (ignored for an existing store).

    Returns
    -------
    xarray.Dataset
        The store, opened lazily.

    Raises
    ------
    SweepError
        ``out`` exists but is not a sweep store, or holds a different sweep.
    """
    out = Path(out)
    if out.exists():
        try:
            existing = _open(out)
        except Exception as exc:  # not a zarr store, or an unreadable one
            raise SweepError(
                str(out), [f"exists and is not a sweep result store ({exc})"]
            ) from None
        found = existing.attrs.get("spec_hash")
        if found != sweep.spec_hash:
            raise SweepError(
                str(out),
                [
                    f"holds a different sweep (spec hash {str(found)[:12]}, this sweep "
                    f"{sweep.spec_hash[:12]}): the sweep file or its base scenario changed; "
                    "write to a new --out or delete the old store"
                ],
            )
        return existing
    if chunk_size < 1:
        raise SweepError(str(out), [f"chunk size must be at least 1, got {chunk_size}"])
    ds = empty_results(sweep)
    chunk = min(chunk_size, max(sweep.size, 1))
    encoding = {name: {"chunks": (chunk,)} for name in ds.variables}
    try:
        ds.to_zarr(out, mode="w-", encoding=encoding, consolidated=False)
    except (OSError, ValueError) as exc:
        raise SweepError(str(out), [f"cannot create the store: {exc}"]) from None
    return _open(out)


def _write(out: Path, records: Sequence[dict[str, Any]], template: xr.Dataset) -> None:
    """Write finished records (any indices) as contiguous regions of the store."""
    by_index = sorted(records, key=lambda r: int(r["index"]))
    for run in _runs([int(r["index"]) for r in by_index]):
        part = [r for r in by_index if run.start <= int(r["index"]) < run.stop]
        data: dict[str, Any] = {}
        for var in result_variables():
            if var.kind == "text":
                values: Any = np.array([str(r.get(var.name, "")) for r in part], dtype=object)
            else:
                values = np.array([float(r.get(var.name, np.nan)) for r in part])
            data[var.name] = ("scenario", values, template[var.name].attrs)
        data["done"] = ("scenario", np.ones(len(part), dtype=np.int8), template["done"].attrs)
        xr.Dataset(data).to_zarr(out, region={"scenario": run}, consolidated=False)


def _runs(indices: list[int]) -> Iterator[slice]:
    if not indices:
        return
    start = prev = indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            yield slice(start, prev + 1)
            start = i
        prev = i
    yield slice(start, prev + 1)


# --------------------------------------------------------------------------------------------
# running


@dataclass
class SweepOutcome:
    """What one run of a sweep did."""

    total: int
    """Points in the sweep [-]."""
    selected: int
    """Points in the ``only`` range [-]."""
    skipped: int
    """Selected points already done before this run [-]."""
    computed: int
    """Points computed by this run [-]."""
    failed: int
    """Of those, points that recorded an error [-]."""
    elapsed: float
    """Wall time [s]."""
    run_id: str
    errors: list[str] = field(default_factory=list)
    """``point i: message`` of the failed points (first 20)."""


Progress = Callable[[dict[str, Any], int, int], None]
"""``progress(record, finished, to_do)`` after each finished point."""


def parse_only(text: str, size: int) -> tuple[int, int]:
    """Read ``START:END`` (END exclusive, either may be empty) into bounds within ``size``.

    Parameters
    ----------
    text
        ``"0:16"``, ``":8"``, ``"8:"``.
    size
        Number of points [-].

    Returns
    -------
    tuple of int
        ``(start, end)`` point indices [-].

    Raises
    ------
    ValueError
        Not of that form, or out of ``0..size``.
    """
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if match is None:
        raise ValueError(f"--only {text!r}: expected START:END, e.g. 0:16")
    start = int(match.group(1)) if match.group(1) else 0
    end = int(match.group(2)) if match.group(2) else size
    if not 0 <= start < end <= size:
        raise ValueError(f"--only {text!r}: expected 0 <= START < END <= {size}")
    return start, end


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    only: tuple[int, int] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
    retry_failed: bool = False,
) -> SweepOutcome:
    """Run the points of ``sweep`` not yet done and write them to the Zarr store ``out``.

    Parameters
    ----------
    sweep
        The sweep (see :func:`load_sweep`).
    out
        Zarr store; created for all points when absent, resumed when it holds this sweep.
    workers
        Local worker processes [-] (default ``os.cpu_count()``; 0: run in this process).
        Ignored with ``scheduler``.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): run the points there.
    only
        ``(start, end)``: run only points ``start <= i < end`` (a batch job's chunk).
    chunk_size
        Points per Zarr chunk of a new store [-]; a chunk is written when all its points in
        the selection are finished, and whatever is finished is written on interruption.
    progress
        Called after every finished point.
    connect_timeout
        How long to try reaching the Dask scheduler [s].
    retry_failed
        Also run again the points that recorded an error.

    Returns
    -------
    SweepOutcome

    Raises
    ------
    SweepError
        The store holds another sweep, the scheduler cannot be reached, a worker died.
    """
    out = Path(out)
    started = time.perf_counter()
    store = prepare_store(sweep, out, chunk_size)
    chunk = int(store["done"].encoding.get("chunks", (chunk_size,))[0])
    start, end = only if only is not None else (0, sweep.size)
    done = store["done"].values[start:end].astype(bool)
    if retry_failed:
        status = np.asarray(store["status"].values[start:end]).astype(object)
        done &= status != "error"
    todo = [start + int(i) for i in np.flatnonzero(~done)]
    run_id = uuid.uuid4().hex[:12]
    outcome = SweepOutcome(sweep.size, end - start, int(done.sum()), 0, 0, 0.0, run_id)
    template = empty_results(sweep).isel(scenario=slice(0, 0))
    tasks = (
        PointTask(
            i,
            sweep.scenario(i),
            str(sweep.base_dir),
            dict(sweep.spec.gpus_per_rack),
            sweep.spec.time_limit,
            sweep.spec.mip_gap,
            sweep.spec.shadow_prices,
            run_id,
        )
        for i in todo
    )
    # chunk → indices still to finish in it; a chunk is written when that set empties
    waiting: dict[int, set[int]] = {}
    for i in todo:
        waiting.setdefault(i // chunk, set()).add(i)
    pending: dict[int, list[dict[str, Any]]] = {}

    def finished(record: dict[str, Any]) -> None:
        index = int(record["index"])
        outcome.computed += 1
        if record.get("status") == "error":
            outcome.failed += 1
            if len(outcome.errors) < 20:
                outcome.errors.append(f"point {index}: {record['error']}")
        key = index // chunk
        pending.setdefault(key, []).append(record)
        waiting[key].discard(index)
        if not waiting[key]:
            _write(out, pending.pop(key), template)
        if progress is not None:
            progress(record, outcome.computed, len(todo))

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(scheduler, tasks, finished, connect_timeout)
        elif workers == 0:
            for task in tasks:
                finished(evaluate_point(task))
        else:
            _run_pool(workers or os.cpu_count() or 1, len(todo), tasks, finished)
    finally:
        leftover = [r for records in pending.values() for r in records]
        if leftover:
            _write(out, leftover, template)
        outcome.elapsed = time.perf_counter() - started
    return outcome


def _failed(task: PointTask, exc: BaseException) -> dict[str, Any]:
    """The record of a point whose task failed outside :func:`evaluate_point`."""
    return {
        "index": task.index,
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}",
        "computed_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "run_id": task.run_id,
    }


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _run_pool(
    workers: int, count: int, tasks: Iterator[PointTask], finished: Callable[[dict[str, Any]], None]
) -> None:
    pool = ProcessPoolExecutor(max_workers=min(workers, count), mp_context=get_context("spawn"))
    futures: dict[Future[dict[str, Any]], PointTask] = {}
    try:
        # one BLAS/OpenMP thread per worker: the workers are the parallelism.  Workers are
        # spawned while the tasks are submitted and inherit the environment at that moment.
        saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
        os.environ.update({name: os.environ.get(name) or "1" for name in _THREAD_VARIABLES})
        try:
            futures = {pool.submit(evaluate_point, task): task for task in tasks}
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        for future in futures_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool:
                raise
            except Exception as exc:  # the task could not run (e.g. not picklable)
                record = _failed(futures[future], exc)
            finished(record)
    except BrokenProcessPool as exc:
        raise SweepError(
            "sweep", [f"a worker process died ({exc}); finished points are saved, re-run to resume"]
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    address: str,
    tasks: Iterator[PointTask],
    finished: Callable[[dict[str, Any]], None],
    timeout: float,
) -> None:
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SweepError(
            "sweep", [f"cannot reach the Dask scheduler at {address}: {exc}"]
        ) from None
    try:
        futures = {client.submit(evaluate_point, task, pure=False): task for task in tasks}
        for future in dask_completed(list(futures), loop=client.loop):
            try:
                record = future.result()
            except Exception as exc:  # e.g. KilledWorker: the point is recorded as failed
                record = _failed(futures[future], exc)
            finished(record)
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# batch jobs


def export_jobs(
    sweep: Sweep,
    sweep_file: str | Path,
    out: str | Path,
    folder: str | Path,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    command: str = "dctwin",
) -> list[Path]:
    """Write one batch script per chunk of points (SLURM ``#SBATCH`` header).

    The store is created first (with ``chunk_size`` points per Zarr chunk) so that the jobs,
    each writing only its own chunks, never race to create it.

    Parameters
    ----------
    sweep
        The sweep.
    sweep_file
        Path of the sweep file as the jobs will see it.
    out
        Zarr store path as the jobs will see it.
    folder
        Where to write ``job-00000.sh`` ...
    chunk_size
        Points per job [-] (also the store's chunk size).
    command
        How the jobs call the CLI.

    Returns
    -------
    list of Path
        The scripts written.
    """
    store = prepare_store(sweep, out, chunk_size)
    chunk = int(store["done"].encoding.get("chunks", (chunk_size,))[0])
    if chunk != min(chunk_size, max(sweep.size, 1)):
        raise SweepError(
            str(out), [f"the store has chunks of {chunk} points; use --chunk-size {chunk}"]
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_path = Path(sweep_file).resolve()
    out_path = Path(out).resolve()
    written = []
    for number, first in enumerate(range(0, sweep.size, chunk)):
        last = min(first + chunk, sweep.size)
        script = folder / f"job-{number:05d}.sh"
        script.write_text(
            "#!/bin/bash\n"
            f"#SBATCH --job-name=dctwin-sweep-{number:05d}\n"
            "#SBATCH --ntasks=1\n"
            "#SBATCH --cpus-per-task=1\n"
            f"#SBATCH --output={folder.resolve()}/job-{number:05d}.log\n"
            f"# points {first} to {last - 1} of {sweep.size}; re-submitting resumes\n"
            "set -euo pipefail\n"
            f"{command} sweep '{sweep_path}' --out '{out_path}' --only {first}:{last} "
            "--workers 1\n",
            encoding="utf-8",
        )
        script.chmod(0o755)
        written.append(script)
    return written


__all__ = [
    "TIMING_VARIABLES",
    "PathError",
    "PointTask",
    "ResultVariable",
    "Sweep",
    "SweepError",
    "SweepOutcome",
    "SweepSpec",
    "empty_results",
    "evaluate_point",
    "export_jobs",
    "load_sweep",
    "open_results",
    "parse_only",
    "plain_text",
    "prepare_store",
    "result_variables",
    "run_sweep",
    "set_path",
    "sweep_from_dict",
]
