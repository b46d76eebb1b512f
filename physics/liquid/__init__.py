"""The liquid path of a direct-to-chip hall: fluids, CDUs, cold plates, the facility loop.

* :mod:`physics.liquid.fluids` — water and PG25 properties (EnergyPlus reference data);
* :mod:`physics.liquid.exchanger` — ε-NTU relations and UA against flow;
* :mod:`physics.liquid.cdu` — CDUs as counterflow liquid-to-liquid exchangers with flows;
* :mod:`physics.liquid.cold_plate` — case temperatures of the cold-plated devices;
* :mod:`physics.liquid.loop` — the warm-water facility loop (dry coolers, towers, trim
  chillers);
* :mod:`physics.liquid.hall` — all of it for one chunk of a simulation.
"""
