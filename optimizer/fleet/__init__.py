"""Many sites planned together: each site's Blocks joined by fleet Blocks (job placement and
migration, tier-1 routing within latency budgets, transfers within link bandwidth), solved by
HiGHS and verified by every site's physics.

Modules: :mod:`~optimizer.fleet.problem` (the input), :mod:`~optimizer.fleet.baseline`
(the as-operated fleet), :mod:`~optimizer.fleet.model` (the fleet Blocks),
:mod:`~optimizer.fleet.solve` (build, solve, verify), :mod:`~optimizer.fleet.result` (figures
and contracts), :mod:`~optimizer.fleet.plan` (:func:`~optimizer.fleet.plan.plan_fleet`).
"""
