"""The ``dctwin`` command line (Typer).

Progress and errors go to stderr, results to stdout (``--json`` prints exactly one JSON
object), so the output can be piped.  A bad scenario prints one line per problem and exits 2;
it never shows a traceback.  Importing this package registers every command on :data:`app`.
"""

from twin.cli import fleet, main, plan, studies, sweep
from twin.cli.common import app

__all__ = ["app", "fleet", "main", "plan", "studies", "sweep"]
