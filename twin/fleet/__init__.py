"""Many sites planned together: the fleet file, its compile step to the optimizer's fleet
problem, and the fleet studies (:mod:`twin.fleet.schema`, :mod:`twin.fleet.build`)."""
