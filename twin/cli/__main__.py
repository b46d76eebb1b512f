"""``python -m twin.cli``: the ``dctwin`` command line."""

from twin.cli import app

app()
