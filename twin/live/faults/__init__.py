"""Sensor-fault detection: readings screened against the model and each point's own history.

:class:`FaultDetector` (:mod:`twin.live.faults.detector`, the rules) keeps or excludes each
accepted reading and reports :class:`SensorFault` s (:mod:`twin.live.faults.kinds`: kinds,
tolerances, reasons).  Each point's recent history (:mod:`twin.live.faults.history`), repeated
values (:mod:`twin.live.faults.repeats`) and the per-tick screening of a batch
(:mod:`twin.live.faults.ticks`) are the detector's parts.
"""

from twin.live.faults.detector import (
    DEFAULT_TOLERANCES,
    FaultDetector,
    FaultKind,
    SensorFault,
    Tolerance,
)

__all__ = ["DEFAULT_TOLERANCES", "FaultDetector", "FaultKind", "SensorFault", "Tolerance"]
