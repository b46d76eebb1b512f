"""Running totals of ingestion, whatever the path (HTTP, MQTT, the virtual plant), and the
reason of each refusal as one of a fixed set of codes.

A refusal's reason (:class:`twin.live.ingest.Rejection`) is a sentence with the item's own
values in it; :func:`refusal_code` maps it onto :data:`REFUSAL_CODES` so that a metric labelled
by reason has a bounded number of series.

:class:`IngestCounters` observes a :class:`twin.live.live_twin.LiveTwin`
(:meth:`IngestCounters.attach`): it is called after every committed batch.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from twin.live.live_twin import IngestResult, LiveTwin
from twin.scenario.points import Reading

REFUSAL_CODES: Mapping[str, str] = {
    "future": "time more than the allowed tolerance ahead of the twin's clock",
    "time": "time missing, not ISO 8601 or without a timezone",
    "point": "point missing or not a string",
    "unknown_point": "point not a point of the facility",
    "value": "value missing, not a number or not finite",
    "unit": "unit not a string, unknown, or of another dimension than the point's",
    "range": "value outside the point's physical range",
    "duplicate": "a second item for the same point and time in one batch",
    "late": "older than the point's latest stored reading by more than the allowed lateness",
    "other": "any other reason",
}
"""Refusal codes of validation (:func:`twin.live.ingest.validate`) and what each means."""

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), code)
    for pattern, code in (
        (r"^time .* in the future$", "future"),
        (r"^time ", "time"),
        (r"^point is missing", "point"),
        (r"^unknown point ", "unknown_point"),
        (r"^value ", "value"),
        (r"^unit ", "unit"),
        (r" outside the physical range ", "range"),
        (r"^duplicate of item ", "duplicate"),
        (r"^out of order", "late"),
    )
)


def refusal_code(reason: str) -> str:
    """The code (a key of :data:`REFUSAL_CODES`) of a validation refusal's sentence.

    Parameters
    ----------
    reason
        :attr:`twin.live.ingest.Rejection.reason`.
    """
    for pattern, code in _PATTERNS:
        if pattern.search(reason):
            return code
    return "other"


@dataclass(frozen=True)
class IngestTotals:
    """Ingestion totals since the counters were created.

    Attributes
    ----------
    batches
        Batches validated [count].
    accepted
        Items that passed validation [count].
    inserted
        Accepted items newly stored [count].
    already_stored
        Accepted items that were in the store already (a batch sent again) [count].
    refused
        Refused items by code of :data:`REFUSAL_CODES` [count].
    """

    batches: int = 0
    accepted: int = 0
    inserted: int = 0
    already_stored: int = 0
    refused: Mapping[str, int] = field(default_factory=dict)

    @property
    def refused_total(self) -> int:
        """Refused items, every reason [count]."""
        return sum(self.refused.values())


class IngestCounters:
    """Thread-safe ingestion totals, fed by a live twin after every committed batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches = 0
        self._accepted = 0
        self._inserted = 0
        self._already_stored = 0
        self._refused: Counter[str] = Counter()

    def record(self, readings: Sequence[Reading], result: IngestResult) -> None:
        """Count one batch (the signature of :attr:`LiveTwin.ingest_observers`).

        Parameters
        ----------
        readings
            The batch's accepted readings (unused: the counts are in ``result``).
        result
            The batch's outcome.
        """
        codes = Counter(refusal_code(r.reason) for r in result.rejected)
        with self._lock:
            self._batches += 1
            self._accepted += result.accepted
            self._inserted += result.inserted
            self._already_stored += result.already_stored
            self._refused.update(codes)

    def attach(self, twin: LiveTwin) -> None:
        """Count every batch ``twin`` ingests from now on."""
        twin.ingest_observers.append(self.record)

    def totals(self) -> IngestTotals:
        """The totals now."""
        with self._lock:
            return IngestTotals(
                batches=self._batches,
                accepted=self._accepted,
                inserted=self._inserted,
                already_stored=self._already_stored,
                refused=dict(self._refused),
            )
