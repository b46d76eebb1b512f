"""The co-planner: one Pyomo/HiGHS model deciding setpoints, battery dispatch and flexible work.

Layer rule: imports ``physics`` (and pyomo, highspy), never ``twin`` or ``ui``.
"""
