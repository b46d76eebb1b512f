"""A real PostgreSQL server for tests and benchmarks: the ``postgres_url`` fixture.

``DCTWIN_TEST_POSTGRES_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``, a role
allowed to create databases) is used when set; otherwise a throwaway cluster is created with
the local PostgreSQL binaries (``initdb``/``pg_ctl`` on PATH or under
``/usr/lib/postgresql/<version>/bin``) in a temporary folder, listening on a free port of
127.0.0.1, and removed at the end of the session.  PostgreSQL refuses to run as root: as root
the cluster belongs to the ``postgres`` user (or ``DCTWIN_TEST_POSTGRES_USER``).

When no server can be had, the tests that need one are skipped with the reason — except
when the ``CI`` environment variable is set: CI must test PostgreSQL, so they fail.

Use: ``from tests.postgres import postgres_url`` in a test module registers the fixture
(or list ``tests.postgres`` in ``pytest_plugins`` of the root conftest).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port, in_ci

__all__ = [
    "PostgresUnavailable",
    "fresh_database",
    "postgres_url",
    "throwaway_postgres",
]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started or reached here."""


def _binaries() -> Path:
    """Folder holding ``initdb`` and ``pg_ctl``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(versions):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(
        "initdb/pg_ctl not found (install the postgresql package, "
        "or set DCTWIN_TEST_POSTGRES_URL to a server)"
    )


@contextmanager
def throwaway_postgres(url: str | None = None) -> Iterator[str]:
    """A PostgreSQL server URL for the duration of the ``with`` block.

    Parameters
    ----------
    url
        An existing server to use as is (nothing started).

    Yields
    ------
    str
        ``postgresql://postgres@127.0.0.1:<port>/postgres`` (trust authentication).

    Raises
    ------
    PostgresUnavailable
        No binaries, no unprivileged user to run them as root, or the server did not start.
    """
    if url:
        yield url
        return
    binaries = _binaries()
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = os.environ.get("DCTWIN_TEST_POSTGRES_USER", "postgres")
        try:
            account = pwd.getpwnam(run_as)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root and there is no {run_as!r} user to run PostgreSQL as"
            ) from None
    folder = Path(tempfile.mkdtemp(prefix="dctwin-pg-"))
    data = folder / "data"
    if run_as is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    folder.chmod(0o700)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=folder,
            user=run_as,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    started = False
    try:
        init = call(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout}")
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
            start = call(
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            )
            if start.returncode == 0:
                started = True
                break
        if not started:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()}\n{log}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            call(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty database on ``server_url``'s server, dropped afterwards.

    Parameters
    ----------
    server_url
        ``postgresql://`` URL of a role allowed to create databases.

    Yields
    ------
    str
        The new database's URL (same scheme, credentials, host and port).
    """
    import sqlalchemy as sa

    base = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"dctwin_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server for the session (skip, or fail in CI, when impossible)."""
    try:
        with throwaway_postgres(os.environ.get("DCTWIN_TEST_POSTGRES_URL")) as url:
            yield url
    except PostgresUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must test PostgreSQL, but it is not available: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
