"""Errors of the measurement and record store."""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "StoreBusy", "StoreError", "StoreRefused"]


class StoreError(Exception):
    """A store operation failed (bad URL, schema newer than the code, …)."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers longer than the ``busy_timeout`` budget."""


class NotFound(StoreError, KeyError):
    """No plan or alarm with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Conflict(StoreError, ValueError):
    """The write contradicts the stored state (status change not allowed, duplicate id)."""


class StoreRefused(StoreError, ValueError):
    """The database refused a value as data (PostgreSQL text cannot hold a NUL character);
    the transaction was rolled back."""
