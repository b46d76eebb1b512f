"""Switches of the planning model's Blocks, and the capacity families verification derates."""

from __future__ import annotations

from dataclasses import dataclass, field

DERATED_FAMILIES = ("feed", "contract", "demand_response", "busbar", "coil", "cdu")
"""Capacity families verification may derate (see :attr:`ModelOptions.limit_derating`)."""

KELVIN_FAMILIES = ("coolant", "case", "loop")
"""Temperature limits verification tightens by a margin in kelvin: CDU coolant supply,
cold-plate case temperature, facility loop supply (liquid class)."""

DIAGNOSIS_LATENESS_PENALTY = 1e3
"""Cost of a kWh delivered an hour late by a job whose deadline a diagnosis relaxed
[currency/(kWh·h)]: large, so the job finishes as early as the limits allow."""


@dataclass
class ModelOptions:
    """Switches of the planning model."""

    ramp_limit: float = 1.0
    """Largest supply-air setpoint change between periods [K per period] (also from the
    current setpoint, when known, to the first period)."""
    chilled_water_ramp_limit: float = 1.0
    """Largest chilled-water setpoint change between periods [K per period]."""
    initial_supply: tuple[float, ...] | None = None
    """Supply setpoint of every cooling unit now [°C] (the ramp to the first period starts
    here); None: free."""
    initial_chilled_water: float | None = None
    """Chilled-water setpoint now [°C]; None: free."""
    end_soc_target: float | None = None
    """Battery SOC required at the end [-]; default: the initial SOC."""
    inlet_margin: float = 0.0
    """Kept below every inlet limit [K]."""
    integer_min_power: bool = True
    """Model tier-3 minimum running power with on/off variables; False drops it."""
    min_power_method: str = "relax-and-fix"
    """``"relax-and-fix"``: solve the LP relaxation (a lower bound), fix each job-period on
    when its mean relaxed power reaches half the minimum, off otherwise, and re-solve the LP
    (the reported gap is against the relaxation bound; if the rounded commitments make the
    LP infeasible, branch and bound in HiGHS decides instead); ``"mip"``: branch and bound.
    On the demo week the relaxation is within 0.3 % of the MIP optimum, which took 81 s
    against 7 s per LP."""
    commitment_hours: float = 1.0
    """On/off decisions of tier-3 jobs are taken per period of this length [h] (a job that
    runs, runs at least its minimum power for the whole period): a quarter of the binaries
    of one per 15-min step, and closer to how training jobs are started and paused."""
    merge_implied_rows: bool = True
    """Leave out the busbar capacity rows that another busbar's row implies (same load per kW
    of every workload, same capacity, a higher load at the operating point): the same LP with
    one row per rack class and step instead of one per rack
    (:func:`optimizer.blocks.screening.undominated_rows`); False keeps every row."""
    initial_inlet_candidates: int = 2
    """Racks per cooling unit and step whose inlet rows start in the model (hottest first)."""
    extra_inlet_rows: set[tuple[int, int]] = field(default_factory=set)
    """Rack-steps (r, t) added by verification."""
    inlet_tightening: dict[tuple[int, int], float] = field(default_factory=dict)
    """Extra margin per rack-step found violated [K]."""
    relaxed_deadlines: set[int] = field(default_factory=set)
    """Hard tier-3 jobs (by workload index) allowed past their deadline at
    :data:`DIAGNOSIS_LATENESS_PENALTY`: a diagnosis finds the earliest deadline that works."""
    limit_derating: dict[str, float] = field(default_factory=dict)
    """Relative derating of capacity families found violated by verification [-]
    (``feed``, ``contract``, ``demand_response``, ``busbar``, ``coil``, ``cdu``), and
    ``coolant``, ``case`` and ``loop`` [K] below the CDU coolant, cold-plate case and
    liquid-class loop limits."""

    @property
    def ramps(self) -> tuple[float, float]:
        """The setpoint ramp limits: (supply air, chilled water) [K per period]."""
        return self.ramp_limit, self.chilled_water_ramp_limit

    def derate(self, family: str) -> float:
        """Multiplier on the limits of ``family`` [-]."""
        return max(1.0 - self.limit_derating.get(family, 0.0), 0.0)
