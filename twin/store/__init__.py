"""The measurement and record store (SQLite by default, PostgreSQL by URL): readings, plans, audit
log, parameters and alarms.

The names most users need are re-exported here (code inside the project imports the concrete
modules): :class:`Store` and its results (:mod:`twin.store.store`), the records
(:mod:`twin.store.records`), the errors (:mod:`twin.store.errors`) and the schema version and
migrations (:mod:`twin.store.schema`).
"""

from twin.store.errors import Conflict, NotFound, StoreBusy, StoreError, StoreUnavailable
from twin.store.records import (
    PLAN_STATUSES,
    PLAN_TRANSITIONS,
    Alarm,
    AuditEntry,
    ParameterValue,
    PlanRecord,
)
from twin.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from twin.store.store import InsertResult, Rollup, Store

__all__ = [
    "MIGRATIONS",
    "PLAN_STATUSES",
    "PLAN_TRANSITIONS",
    "SCHEMA_VERSION",
    "Alarm",
    "AuditEntry",
    "Conflict",
    "InsertResult",
    "NotFound",
    "ParameterValue",
    "PlanRecord",
    "Rollup",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "migrate",
]
