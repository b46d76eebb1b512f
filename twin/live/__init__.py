"""The running twin: ingestion, state estimation, sensor faults, calibration, uncertain parameters,
the virtual plant, re-plans and what-if.
"""
