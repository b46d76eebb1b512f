"""Scenario sweeps: the sweep file, point evaluation in workers, the Zarr result store and the
runner.
"""
