"""Sweep files: the spec (pydantic), its points, and dotted paths into a scenario.

Part of :mod:`twin.studies.sweep.runner` (see there for the file format).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.scenario.errors import format_validation_error
from twin.scenario.fields import Duration
from twin.scenario.loader import ScenarioError, read_text_file, scenario_from_dict, strict_yaml
from twin.scenario.schema import Scenario

DEFAULT_CHUNK_SIZE = 16
MAX_POINTS = 1_000_000

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
        data = strict_yaml(read_text_file(path))
    except OSError as exc:
        raise SweepError(str(path), [f"cannot read file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SweepError(str(path), [f"not valid YAML: {exc}"]) from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise SweepError(str(path), [str(exc)]) from None
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
        raise SweepError(source, format_validation_error(exc, data, Scenario)) from None
    base_path = (folder / spec.base).resolve()
    try:
        base = strict_yaml(read_text_file(base_path))
    except OSError as exc:
        raise SweepError(
            source, [f"base: cannot read {base_path}: {exc.strerror or exc}"]
        ) from None
    except yaml.YAMLError as exc:
        raise SweepError(source, [f"base: {base_path} is not valid YAML: {exc}"]) from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise SweepError(source, [f"base: {exc}"]) from None
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
