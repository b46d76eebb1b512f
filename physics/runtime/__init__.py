"""How long simulations run, not what they compute: the C allocator's tuning
(:mod:`physics.runtime.allocator`), caches of results recomputed from identical inputs
(:mod:`physics.runtime.memo`) and per-equipment series streamed to NetCDF as windows finish
(:mod:`physics.runtime.stream`).

Nothing is imported here, so that the lowest physics modules can use the caches without
loading the NetCDF writer.
"""
