"""What both ``dctwin serve`` forms share: the private state folder, the API tokens and the
listening socket bound before anything loads."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twin.cli.common import err, fail


def private_state_dir(state_dir: Path) -> None:
    """Create ``state_dir`` owner-only (0700) and make the files this process creates
    owner-only (umask 077: the database, its WAL, the token file); warn if an existing state
    folder is open to others."""
    import os
    import stat

    os.umask(0o077)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if mode & 0o077:
        err(
            f"warning: {state_dir} is accessible to others (mode {mode:04o}); it holds the "
            f"store and the tokens: chmod 700 {state_dir}"
        )


def load_tokens(state_dir: Path) -> Any:
    """The API tokens: ``DCTWIN_TOKENS``, else the demo tokens under ``state_dir`` (made once);
    the UI's users (``DCTWIN_USERS``) are checked here too, not half-way through serving."""
    from twin.api.login import UserRegistry
    from twin.api.security import TokenError, TokenRegistry, generate_demo_tokens

    try:
        tokens = TokenRegistry.from_environment()
    except TokenError as exc:
        raise fail(f"DCTWIN_TOKENS: {exc}") from None
    try:
        UserRegistry.from_environment()
    except TokenError as exc:
        raise fail(str(exc)) from None
    if len(tokens):
        return tokens
    token_file = state_dir / "tokens.txt"
    if token_file.exists():
        what = "using the tokens in"
    else:
        generate_demo_tokens(token_file)
        what = "generated one token per scope in"
    try:
        tokens = TokenRegistry.from_file(token_file)
    except (OSError, TokenError) as exc:
        raise fail(f"{token_file}: {exc}") from None
    err(f"no DCTWIN_TOKENS set: {what} {token_file.resolve()} (owner-only file)")
    return tokens


def bind_port(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound now; one clear line if the port is taken.

    Parameters
    ----------
    host
        Address to bind (a name or an IPv4/IPv6 address).
    port
        TCP port [-].

    Returns
    -------
    socket.socket
        The bound, listening socket the server then accepts on.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise fail(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            raise fail(
                f"port {port} on {host} is already in use (another `dctwin serve`? stop it, "
                f"or pick another with --port {port + 1})"
            ) from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listening.set_inheritable(True)
    return listening


@contextmanager
def closed_on_failure(listening: socket.socket) -> Iterator[socket.socket]:
    """Close ``listening`` (from :func:`bind_port`) if what runs inside refuses or fails, so a
    refused ``serve`` does not leave its port bound until the process ends; on success the
    socket stays open for the server."""
    try:
        yield listening
    except BaseException:
        listening.close()
        raise
