"""The Pyomo Blocks of the planning model, one module per asset type.

:func:`optimizer.model.build_model` creates the horizon (``m.T``, the derating parameters) and
calls the builders in this order (later Blocks read symbols of earlier ones):

* :func:`~optimizer.blocks.workloads.add_workloads`: ``m.workloads``, the power given to each
  flexible workload;
* :func:`~optimizer.blocks.cooling.add_cooling`: ``m.cooling``, supply and chilled-water
  setpoints, rack inlet rows, coil and CDU capacities, plant power;
* :func:`~optimizer.blocks.power.add_power`: ``m.power``, UPS input, feed and busbar rows;
* :func:`~optimizer.blocks.battery.add_battery`: ``m.battery``, charge, discharge, energy;
* :func:`~optimizer.blocks.grid.add_grid`: ``m.grid``, import balance, PV, peak, caps;
* :func:`~optimizer.blocks.objective.add_objective`: the cost terms and ``m.cost``.

Each builder's docstring lists the symbols it adds (name, kind, index sets, unit, meaning).
Units inside the model: power kW, energy kWh, temperature °C, money in the scenario currency;
index sets: ``T`` steps, ``U`` cooling units, ``J`` flexible workloads.  The switches of all
Blocks are :class:`optimizer.blocks.options.ModelOptions`; rows that cannot bind are screened
out by :mod:`optimizer.blocks.screening`.
"""
