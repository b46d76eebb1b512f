"""The closed loop an operator can trust: what the live twin checks before and after it acts.

* :mod:`~twin.live.control.limit_table` — the limits watched live, taken from the physics'
  one limit table (:data:`physics.violations.LIMIT_KINDS`), resolved per piece of equipment.
* :mod:`~twin.live.control.limit_alarms` — :class:`LimitMonitor`: limit alarms from the
  screened readings and the estimate, with severities, hysteresis and a minimum duration.
* :mod:`~twin.live.control.verification` — plans checked on the twin *as calibrated now*
  (calibrated factors and per-rack inlet offsets), and the per-unit setpoint caps that make
  the planner respect the offsets.
* :mod:`~twin.live.control.preview` — what a plan changes against the schedule in force.
* :mod:`~twin.live.control.watch` — :class:`PlanWatch`: predicted vs measured after every
  applied plan, and when to revert to the safe fallback.
* :mod:`~twin.live.control.reanchor` — moving the live window without dropping the applied
  plans that reach into it.
"""
