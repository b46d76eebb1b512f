"""Errors of the measurement and record store."""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "StoreBusy", "StoreError", "StoreRefused", "StoreUnavailable"]


class StoreError(Exception):
    """A store operation failed (bad URL, schema newer than the code, …)."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers longer than the ``busy_timeout`` budget."""


class StoreUnavailable(StoreBusy):
    """The database server could not be reached, or the connection to it was lost during the
    operation (a restart of the server); a write may or may not have been stored (inserting
    readings again is harmless: they are idempotent).  Answered 503 like :class:`StoreBusy`."""


class NotFound(StoreError, KeyError):
    """No plan or alarm with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Conflict(StoreError, ValueError):
    """The write contradicts the stored state (status change not allowed, duplicate id)."""


class StoreRefused(StoreError, ValueError):
    """The database refused a value as data (PostgreSQL text cannot hold a NUL character);
    the transaction was rolled back."""
