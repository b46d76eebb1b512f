"""The live twin's settings (:class:`LiveSettings`), apart from the twin itself so that the
CLI, the fleet and the tests can build them without the twin's imports."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.horizon import DEFAULT_LOOKAHEAD_CAP_HOURS

__all__ = ["LiveSettings"]


@dataclass
class LiveSettings:
    """Behaviour of the live twin.

    Attributes
    ----------
    replan_minutes
        Period of the automatic re-plan [min]; 0 disables it.
    horizon_hours
        Committed period of a re-plan [h]; the plan looks further ahead to the deadlines of
        the jobs active in it (at most ``lookahead_cap_hours``).
    lookahead_cap_hours
        Longest look-ahead of a re-plan [h] (the live window ends sooner).
    autonomy
        Apply a proposed plan without approval when every guardrail holds.
    max_setpoint_step
        Guardrail: largest supply-setpoint change an automatic plan may make at once [K].
    stale_after_s
        No accepted reading for this long marks the state stale [s].
    plant_interval_s
        Period of the virtual plant's readings [s].
    max_batch_items
        Largest measurement batch accepted [items].
    plan_time_limit_s
        HiGHS time limit per solve in re-plans [s].
    retention_days
        Raw readings older than this are rolled up hourly and deleted, checked every hour
        [d]; 0 keeps everything.
    silent_after_s
        A sensor that sent nothing for this long is flagged silent [s] (the staleness
        threshold: one figure for "telemetry stopped").
    alarm_warning_k
        A rack inlet or coolant temperature within this margin of its limit is a warning
        alarm [K] (beyond the limit: critical).
    alarm_min_duration_s
        A limit alarm's level must hold this long before it is raised [s].
    alarm_clear_duration_s
        The margin must clear a level's threshold plus hysteresis this long before the
        alarm leaves it [s].
    watch_minutes
        How long each applied plan is watched [min].
    watch_residual_minutes
        How long a watched point's residual must stay beyond its threshold to revert [min].
    ingest_process
        Validate and commit measurement batches in a child process of their own
        (:mod:`twin.live.ingest_process`; for high ingestion rates on several cores).
    min_cycle_s
        Shortest interval between two processing cycles [s]: a batch that arrives sooner
        after the last cycle began waits for the rest of it, so that every batch arriving
        meanwhile is screened, estimated and calibrated in the same cycle (the cycle's fixed
        cost is paid once; :mod:`twin.live.control.cycle`).  The estimate is then at most this
        much later than the newest commit; acknowledgements never wait for it.  0: a cycle as
        soon as a batch is queued.
    window_days
        Length of the live window, from 00:00 UTC the day before it is anchored [d]; a
        fleet's sites get at least the fleet's duration + 2 d, so that a fleet re-plan from
        any time today covers the fleet file's whole duration.
    """

    replan_minutes: float = 15.0
    horizon_hours: float = 24.0
    lookahead_cap_hours: float = DEFAULT_LOOKAHEAD_CAP_HOURS
    autonomy: bool = False
    max_setpoint_step: float = 1.0
    stale_after_s: float = 300.0
    plant_interval_s: float = 5.0
    max_batch_items: int = 10_000
    plan_time_limit_s: float = 30.0
    retention_days: float = 90.0
    silent_after_s: float = 300.0
    alarm_warning_k: float = 1.0
    alarm_min_duration_s: float = 30.0
    alarm_clear_duration_s: float = 60.0
    watch_minutes: float = 60.0
    watch_residual_minutes: float = 10.0
    ingest_process: bool = False
    min_cycle_s: float = 0.05
    window_days: float = 7.0
