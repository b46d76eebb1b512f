"""The twin's HTTP API (FastAPI) under ``/api/v1`` and its bearer-token security."""
