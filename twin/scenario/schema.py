"""Scenario schema: a facility and its study described in YAML, validated with pydantic.

Every quantity documents one unit in its description (``[kW]``); YAML may give a bare number in
that unit or a string with a unit (``"120 kW"``, ``"64.4 degF"``), converted at load time.
Values are stored in the documented unit; :mod:`twin.scenario.compile` turns them into SI arrays.

This module holds the site, the simulated window, workloads, the grid, series sources and the
:class:`Scenario` itself; the equipment sections are in :mod:`twin.scenario.equipment`, and
:func:`twin.scenario.loader.load_scenario` reads and validates a file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from physics.variables import VARIABLES
from twin.scenario.equipment import PV, Battery, Busbar, Cooling, Power, Rack, RackRow, RackType
from twin.scenario.errors import FieldProblem
from twin.scenario.fields import (
    AIR_CLASS_ALLOWABLE,
    AIR_CLASS_RECOMMENDED,
    LIQUID_CLASS_SUPPLY_LIMIT,
    AirClass,
    Duration,
    Fraction,
    Instant,
    LiquidClass,
    OffsetOrInstant,
    SchemaModel,
)
from twin.scenario.quantities import Celsius, Kilowatt, KilowattHour, Metre

SCHEMA_VERSION = 1
"""Version of the scenario file format (the ``version`` field)."""
MAX_STEPS = 1_000_000
"""Most time steps of a simulated window [steps] (a year at 1 min is 525,600)."""
MAX_RACKS = 20_000
"""Most racks of one scenario, listed and in rows together [racks]."""

# --------------------------------------------------------------------------------------------
# site and window


class Site(SchemaModel):
    """Where the facility is and which thermal classes bound it."""

    name: str = Field(description="Site name.")
    latitude: float = Field(0.0, ge=-90, le=90, description="Latitude [degrees north].")
    longitude: float = Field(0.0, ge=-180, le=180, description="Longitude [degrees east].")
    elevation: Metre = Field(0.0, ge=-500, le=6000, description="Elevation above sea level [m].")
    timezone: str = Field("UTC", description="IANA timezone for display, e.g. 'America/Chicago'.")
    air_class: AirClass = Field("A2", description="ASHRAE air-cooling equipment class.")
    inlet_limit: Literal["recommended", "allowable"] = Field(
        "recommended",
        description="Which ASHRAE envelope bounds rack inlets: 'recommended' (18–27 °C) or "
        "the class 'allowable' range.",
    )
    max_inlet_temperature: Celsius | None = Field(
        None,
        description="Override of the inlet limit [°C]; default from the class envelope.",
        examples=["30 °C"],
    )
    min_inlet_temperature: Celsius | None = Field(
        None,
        examples=["16 degC"],
        description="Override of the lower inlet limit [°C]; default from the class envelope "
        "(18 °C recommended; allowable 15, 10, 5, 5 °C for A1–A4).",
    )
    liquid_class: LiquidClass = Field(
        "W32", description="ASHRAE liquid-cooling class: maximum facility water supply."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Europe/Berlin')") from exc
        return value

    @model_validator(mode="after")
    def _inlet_range(self) -> Site:
        if self.inlet_lower_limit_temperature >= self.inlet_limit_temperature:
            raise FieldProblem(
                "min_inlet_temperature",
                f"expected below the upper inlet limit {self.inlet_limit_temperature:g} °C",
            )
        return self

    @property
    def inlet_limit_temperature(self) -> float:
        """The upper rack inlet limit in force [°C]."""
        if self.max_inlet_temperature is not None:
            return self.max_inlet_temperature
        if self.inlet_limit == "recommended":
            return AIR_CLASS_RECOMMENDED[1]
        return AIR_CLASS_ALLOWABLE[self.air_class][1]

    @property
    def inlet_lower_limit_temperature(self) -> float:
        """The lower rack inlet limit in force [°C]."""
        if self.min_inlet_temperature is not None:
            return self.min_inlet_temperature
        if self.inlet_limit == "recommended":
            return AIR_CLASS_RECOMMENDED[0]
        return AIR_CLASS_ALLOWABLE[self.air_class][0]

    @property
    def facility_water_limit(self) -> float:
        """Maximum facility water supply temperature of the liquid class [°C]."""
        return LIQUID_CLASS_SUPPLY_LIMIT[self.liquid_class]


class Simulation(SchemaModel):
    """The time window simulated or planned."""

    start: Instant = Field(description="First instant, timezone-aware ISO 8601.")
    duration: Duration = Field(timedelta(days=1), description="Length of the window.")
    step: Duration = Field(timedelta(minutes=15), description="Time step.")

    @model_validator(mode="after")
    def _step_divides(self) -> Simulation:
        if self.step <= timedelta(0):
            raise FieldProblem("step", f"expected a positive time step, got {self.step}")
        if self.duration < self.step:
            raise FieldProblem(
                "duration", f"{self.duration} is shorter than one step ({self.step})"
            )
        if self.duration % self.step:
            raise FieldProblem(
                "duration",
                f"{self.duration} is not a whole number of steps; expected a multiple of "
                f"step ({self.step})",
            )
        if self.duration // self.step > MAX_STEPS:
            raise FieldProblem(
                "step",
                f"{self.duration // self.step:,} steps of {self.step}; at most {MAX_STEPS:,} "
                "steps per window",
            )
        return self


# --------------------------------------------------------------------------------------------
# workloads

_TIER3_ONLY = (
    "energy",
    "release",
    "deadline",
    "min_power",
    "max_power",
    "sla",
    "lateness_penalty",
    "unserved_penalty",
)
_PROFILE_ONLY = ("utilization", "profile", "profile_scale", "max_delay")


class Workload(SchemaModel):
    """IT work on a set of racks, by tier.

    Tier 1: critical inference, a fixed utilization profile.  Tier 2: real-time analytics, a
    profile whose work may be delayed by at most ``max_delay``.  Tier 3: training/batch: an
    ``energy`` to deliver between ``release`` and ``deadline`` at a power between
    ``min_power`` (when running) and ``max_power``.
    """

    id: str = Field(description="Unique workload id.")
    tier: Literal[1, 2, 3] = Field(
        description="1: critical inference, 2: deferrable analytics, 3: training/batch."
    )
    racks: list[str] = Field(
        min_length=1, description="Rack ids or glob patterns ('A*') the workload runs on."
    )
    utilization: Fraction | None = Field(
        None, description="Tier 1/2: constant utilization of the racks' dynamic power [-]."
    )
    profile: str | None = Field(
        None, description="Tier 1/2: name of a series (0..1) giving utilization over time."
    )
    profile_scale: float = Field(
        1.0, ge=0, le=1, description="Tier 1/2: multiplier on the profile [-]."
    )
    max_delay: Duration | None = Field(None, description="Tier 2: how long work may be deferred.")
    energy: KilowattHour | None = Field(
        None, ge=0, description="Tier 3: IT energy above idle to deliver [kWh]."
    )
    min_power: Kilowatt | None = Field(
        None, ge=0, description="Tier 3: lowest power while running [kW]."
    )
    max_power: Kilowatt | None = Field(
        None,
        ge=0,
        examples=["200 kW"],
        description="Tier 3: highest power above idle [kW]; default: the racks' dynamic "
        "power, the sum over its racks of (design_power − idle power) × (1 − fan_fraction), "
        "e.g. 120 kW × (1 − 0.3) × (1 − 0.06) = 78.96 kW per 120 kW rack.",
    )
    release: OffsetOrInstant | None = Field(
        None, description="Tier 3: earliest start (instant, or offset from start)."
    )
    deadline: OffsetOrInstant | None = Field(
        None, description="Tier 3: latest finish (instant, or offset from start)."
    )
    sla: Literal["hard", "soft"] = Field(
        "hard",
        description="Tier 3: 'hard' (default): the energy is due by the deadline, a plan that "
        "cannot deliver it is infeasible; 'soft': late or undelivered energy is allowed at "
        "lateness_penalty and unserved_penalty, which must then be given.",
    )
    lateness_penalty: float | None = Field(
        None,
        ge=0,
        description="Tier 3, sla: soft: cost per kWh delivered late, per hour of delay "
        "[currency/kWh/h].",
        examples=[0.5],
    )
    unserved_penalty: float | None = Field(
        None,
        ge=0,
        description="Tier 3, sla: soft: cost per kWh not delivered [currency/kWh].",
        examples=[1.0],
    )

    @model_validator(mode="after")
    def _by_tier(self) -> Workload:
        if self.tier in (1, 2):
            if (self.utilization is None) == (self.profile is None):
                given = "both" if self.utilization is not None else "neither"
                raise ValueError(
                    f"tier {self.tier} needs exactly one of utilization or profile (got {given})"
                )
            if self.tier == 2 and self.max_delay is None:
                raise FieldProblem("max_delay", "required for tier 2, e.g. max_delay: 2 h")
            if self.tier == 1 and self.max_delay is not None:
                raise FieldProblem(
                    "max_delay",
                    "only for tier 2 (deferrable analytics); tier-1 work runs when it arrives "
                    "and would ignore it",
                )
            tier3_only = [n for n in _TIER3_ONLY if n in self.model_fields_set]
            if tier3_only:
                raise FieldProblem(
                    tier3_only,
                    f"only for tier 3 (batch/training); a tier-{self.tier} workload follows its "
                    "profile and would ignore it",
                )
        else:
            profile_only = [n for n in _PROFILE_ONLY if n in self.model_fields_set]
            if profile_only:
                raise FieldProblem(
                    profile_only,
                    "only for tier 1/2 (a utilization profile); a tier-3 job delivers its "
                    "energy between release and deadline and would ignore it",
                )
            missing = [n for n in ("energy", "release", "deadline") if getattr(self, n) is None]
            if missing:
                raise FieldProblem(missing, "required for tier 3 (batch/training) workloads")
            self._check_sla()
            if (
                self.min_power is not None
                and self.max_power is not None
                and self.min_power > self.max_power
            ):
                raise FieldProblem(
                    "min_power",
                    f"{self.min_power:g} kW exceeds max_power ({self.max_power:g} kW); expected "
                    "min_power <= max_power",
                )
        return self

    def _check_sla(self) -> None:
        penalties = [
            n for n in ("lateness_penalty", "unserved_penalty") if getattr(self, n) is not None
        ]
        if self.sla == "hard" and penalties:
            raise FieldProblem(
                penalties,
                "only with sla: soft; a hard job's energy is due by its deadline and is never "
                "late or unserved, so a penalty would be ignored",
            )
        if self.sla == "soft" and len(penalties) < 2:
            missing = [n for n in ("lateness_penalty", "unserved_penalty") if n not in penalties]
            raise FieldProblem(
                missing,
                "required with sla: soft: the explicit price of late and undelivered energy, "
                "e.g. lateness_penalty: 0.5 and unserved_penalty: 1.0",
            )


# --------------------------------------------------------------------------------------------
# grid and series


class DemandResponseEvent(SchemaModel):
    """A demand-response event and the terms of its programme.

    ``import_cap`` alone: grid import must stay at or below the cap (a hard limit; a plan that
    cannot meet it is infeasible, a baseline that breaks it is reported).  With ``penalty``:
    import above the cap is allowed and billed per kWh.  With ``credit`` and ``baseline``: every
    kWh imported below the baseline (the programme's customer baseline load) during the event
    is paid.  Plan and baselines are billed by the same terms.
    """

    start: Instant = Field(description="Event start, ISO 8601 with timezone.")
    end: Instant = Field(description="Event end, ISO 8601 with timezone.")
    import_cap: Kilowatt | None = Field(
        None, ge=0, description="Grid import cap during the event [kW]."
    )
    penalty: float | None = Field(
        None,
        ge=0,
        description="Price of each kWh imported above import_cap during the event "
        "[currency/kWh]; without it the cap is a hard limit.",
        examples=[2.0],
    )
    credit: float | None = Field(
        None,
        ge=0,
        description="Payment for each kWh imported below baseline during the event [currency/kWh].",
        examples=[0.8],
    )
    baseline: Kilowatt | None = Field(
        None,
        ge=0,
        description="Customer baseline load the credit is measured against [kW].",
        examples=["2 MW"],
    )

    @model_validator(mode="after")
    def _ordered(self) -> DemandResponseEvent:
        if self.end <= self.start:
            raise FieldProblem("end", f"expected an instant after start ({self.start.isoformat()})")
        if self.import_cap is None and self.credit is None:
            raise FieldProblem(
                "import_cap", "required unless the event pays a credit (credit and baseline)"
            )
        if self.penalty is not None and self.import_cap is None:
            raise FieldProblem("import_cap", "required with penalty: the cap the penalty is for")
        if (self.credit is None) != (self.baseline is None):
            missing = "baseline" if self.baseline is None else "credit"
            raise FieldProblem(missing, "credit and baseline go together")
        return self


class Grid(SchemaModel):
    """Grid connection, tariff and emissions accounting."""

    contract_capacity: Kilowatt = Field(gt=0, description="Contracted import limit [kW].")
    demand_charge: float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="Charge per kW of each billing period's highest import [currency/kW]; "
        "a plan pays on max(peak so far in the period, its own peak) less the peak so far.",
    )
    billing_period: Literal["month", "window"] = Field(
        "month",
        description="Demand-charge billing period: 'month' (calendar months in the site's "
        "timezone) or 'window' (the studied window is billed as one period).",
    )
    carbon_price: float = Field(
        0.0, ge=0, le=1e6, description="Price of emissions [currency/t CO2e]."
    )
    export_allowed: bool = Field(False, description="Whether net export to the grid is allowed.")
    currency: str = Field("USD", description="Currency of every cost.")
    demand_response: list[DemandResponseEvent] = Field(
        default_factory=list, description="Demand-response events (import caps)."
    )


SeriesFormat = Literal["dctwin", "price_csv", "carbon_csv", "open_meteo", "epw", "cpu_trace"]


class SeriesSource(SchemaModel):
    """One source of exogenous series; later entries override earlier ones.

    Exactly one of: ``file`` (with ``format``), ``zone`` (a folder of the public data set),
    ``values`` (inline, one per ``step`` from the simulation start), ``constant``, ``generate``.
    """

    file: str | None = Field(None, description="Path, relative to the scenario file.")
    format: SeriesFormat = Field("dctwin", description="File format.")
    zone: str | None = Field(
        None,
        description="Grid zone folder of the public data set (price, carbon, weather), e.g. "
        "'US-TEX-ERCO'.",
        examples=["US-TEX-ERCO"],
    )
    data_dir: str = Field(
        "../../shared/data", description="Public data folder, relative to the scenario file."
    )
    year: int | None = Field(
        None,
        description="Year of a zone's data (default 2023) or onto which an epw file's "
        "typical year is mapped (default: the simulation start's year).",
        examples=[2023],
    )
    variable: str | None = Field(
        None,
        description="Series name for values/constant (required there), or the name a "
        "cpu_trace's load takes (default cpu_load), e.g. a workload profile's name.",
        examples=["price"],
    )
    values: list[float] | None = Field(
        None,
        description="Inline values of variable, one per step from the start.",
        examples=[[40.0, 42.5, 38.0]],
    )
    constant: float | None = Field(
        None, description="A constant value of variable.", examples=[35.0]
    )
    step: Duration | None = Field(
        None, description="Step of inline values (required with values).", examples=["1 h"]
    )
    generate: Literal["demo"] | None = Field(None, description="Generated demo series.")
    seed: int = Field(0, ge=0, description="Random seed of generated series (>= 0).")
    first_row_at: Instant | None = Field(
        None,
        description="cpu_trace only, required there: the instant of the trace's first row "
        "(the file holds no timestamps; row i sits at first_row_at + i hours).",
        examples=["2023-01-01T00:00:00Z"],
    )
    replay_from: Instant | None = Field(
        None,
        description="Replay history: the data from this instant on is shifted so that it "
        "starts at the simulation start (e.g. a July 2023 week as next week). Works the same "
        "for every source with times, a CPU trace included (placed by first_row_at first).",
        examples=["2023-07-10T00:00:00Z"],
    )

    repeat: bool = Field(
        False,
        description="With replay_from: the replayed data repeats, a whole number of days at a "
        "time, where the window runs past its end (a week of demo data served live for "
        "longer than a week).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SeriesSource:
        given = [
            n
            for n in ("file", "zone", "values", "constant", "generate")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of file, zone, values, constant, generate; got "
                + (", ".join(given) or "none")
            )
        if (self.values is not None or self.constant is not None) and self.variable is None:
            raise FieldProblem(
                "variable", "required with values/constant: the series name, e.g. variable: price"
            )
        if self.values is not None and self.step is None:
            raise FieldProblem("step", "required with values: their time step, e.g. step: 1h")
        if self.values is not None and self.variable not in VARIABLES:
            raise FieldProblem(
                "variable",
                f"{self.variable!r} is no registered variable; values take one such as price, "
                "carbon_intensity or outdoor_temperature (physics.variables; a workload's "
                "utilization profile by another name: use constant or a file)",
            )
        self._check_trace()
        self._refuse_ignored(given[0])
        if self.repeat and self.replay_from is None:
            raise FieldProblem("repeat", "only with replay_from (the replayed data repeats)")
        return self

    def _check_trace(self) -> None:
        is_trace = self.file is not None and self.format == "cpu_trace"
        if is_trace and self.first_row_at is None:
            raise FieldProblem(
                "first_row_at",
                "required with format: cpu_trace: the instant of the trace's first row (the file "
                "holds no timestamps), e.g. first_row_at: 2023-01-01T00:00:00Z; add replay_from "
                "to replay a later part of it at the simulation start",
            )
        if not is_trace and self.first_row_at is not None:
            raise FieldProblem(
                "first_row_at",
                "only with format: cpu_trace; other sources carry their own times (use "
                "replay_from to move them)",
            )

    def _refuse_ignored(self, kind: str) -> None:
        """Refuse a field this kind of source would ignore, naming what it is for."""
        source = f"{self.format} file" if kind == "file" else kind
        uses = {
            "format": ("file",),
            "data_dir": ("zone",),
            "year": ("zone", "epw file"),
            "variable": ("values", "constant", "cpu_trace file"),
            "step": ("values",),
            "seed": ("generate",),
            "replay_from": ("zone", "file (any format)"),
            "repeat": ("zone", "file (any format)"),
        }
        here = {kind, source, "file (any format)" if kind == "file" else kind}
        ignored = [
            name
            for name, users in uses.items()
            if name in self.model_fields_set and not here.intersection(users)
        ]
        if ignored:
            raise FieldProblem(
                ignored,
                f"a {source} source would ignore it ("
                + "; ".join(f"{name} is for {', '.join(uses[name])}" for name in ignored)
                + ")",
            )


# --------------------------------------------------------------------------------------------
# the scenario


class Scenario(SchemaModel):
    """A facility, its signals and the window studied."""

    _folder: Path | None = PrivateAttr(default=None)
    """Folder of the file the scenario was loaded from (by
    :func:`~twin.scenario.loader.load_scenario`); relative series paths are resolved against
    it.  None for a scenario built in memory."""

    version: Literal[1] = Field(1, description="Schema version.")
    site: Site = Field(description="Site: name, location, timezone, ASHRAE classes.")
    simulation: Simulation = Field(description="Window: start, duration, step.")
    rack_types: dict[str, RackType] = Field(
        min_length=1, description="Rack catalogue: rack type name → its description."
    )
    racks: list[Rack] = Field(default_factory=list, description="Racks listed one by one.")
    rows: list[RackRow] = Field(default_factory=list, description="Rows of identical racks.")
    cooling: Cooling = Field(description="Cooling units, CDUs, recirculation and plant.")
    power: Power = Field(description="Feeds, UPS, 48 V busbars and power shelves.")
    battery: Battery | None = Field(None, description="Facility battery (BESS), if any.")
    pv: PV | None = Field(None, description="On-site photovoltaics, if any.")
    workloads: list[Workload] = Field(
        default_factory=list, description="IT work on the racks, by tier."
    )
    grid: Grid = Field(description="Grid connection, tariff and demand response.")
    series: list[SeriesSource] = Field(
        default_factory=list, description="Sources of price, carbon, weather and load series."
    )

    @model_validator(mode="after")
    def _has_racks(self) -> Scenario:
        if not self.racks and not self.rows:
            raise ValueError("the scenario has no racks: give racks or rows")
        total = len(self.racks) + sum(row.count for row in self.rows)
        if total > MAX_RACKS:
            raise FieldProblem(
                "rows", f"{total:,} racks in all; a scenario holds at most {MAX_RACKS:,}"
            )
        return self

    def all_racks(self) -> list[Rack]:
        """Explicit racks followed by the racks the rows expand to."""
        racks = list(self.racks)
        for row in self.rows:
            for offset, rack_id in enumerate(row.rack_ids()):
                racks.append(
                    Rack(
                        id=rack_id,
                        row=row.row,
                        position=row.first_position + offset,
                        type=row.type,
                        cooling_unit=row.cooling_unit,
                        cdu=row.cdu,
                        busbar=row.busbar if row.busbar is not None else rack_id,
                    )
                )
        return racks

    def all_busbars(self) -> list[Busbar]:
        """Explicit busbars followed by the per-rack busbars rows create from templates."""
        busbars = list(self.power.busbars)
        for row in self.rows:
            if (
                row.busbar_template is None
                or row.busbar_template not in self.power.busbar_templates
            ):
                continue
            template = self.power.busbar_templates[row.busbar_template]
            for rack_id in row.rack_ids():
                busbars.append(Busbar(id=rack_id, ups=row.ups or "", **template.model_dump()))
        return busbars
