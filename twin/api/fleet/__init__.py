"""The fleet's HTTP API (``dctwin serve fleet.yaml``): every site's routes under
``/api/v1/sites/{site}/`` and the fleet's own under ``/api/v1/fleet``."""
