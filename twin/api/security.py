"""Bearer tokens with scopes for the twin's API.

Scopes: ``read`` (state, measurements, plans, what-if), ``ingest`` (post measurements),
``approve`` (approve or reject plans, ask for a re-plan), ``admin`` (replace the scenario,
change autonomy; implies every other scope).

Tokens come from the environment variable ``DCTWIN_TOKENS`` (``token=scope,scope;token=…``)
or a tokens file (one ``token scope,scope`` per line, ``#`` comments).  Only SHA-256 digests
are kept in memory and compared in constant time; a token never appears in a log line, an
error message or a ``repr``.  :func:`generate_demo_tokens` writes a fresh file (mode 0600)
for the demo, one token per scope.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCOPES = ("read", "ingest", "approve", "admin")


class TokenError(ValueError):
    """A token specification could not be read."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class TokenRegistry:
    """Known tokens (as digests) and their scopes."""

    _scopes: dict[bytes, frozenset[str]] = field(default_factory=dict, repr=False)

    def add(self, token: str, scopes: Iterable[str]) -> None:
        """Register ``token`` with ``scopes`` (``admin`` implies all)."""
        wanted = frozenset(s.strip() for s in scopes if s.strip())
        unknown = wanted - set(SCOPES)
        if unknown:
            raise TokenError(f"unknown scope(s) {sorted(unknown)}; known: {', '.join(SCOPES)}")
        if len(token) < 16:
            raise TokenError("tokens must be at least 16 characters")
        if "admin" in wanted:
            wanted = frozenset(SCOPES)
        self._scopes[_digest(token)] = wanted

    def scopes(self, token: str | None) -> frozenset[str] | None:
        """Scopes of ``token``; None when it is unknown (compared in constant time)."""
        if not token:
            return None
        digest = _digest(token)
        found: frozenset[str] | None = None
        for known, scopes in self._scopes.items():
            if hmac.compare_digest(known, digest):
                found = scopes
        return found

    def __len__(self) -> int:
        return len(self._scopes)

    def scopes_of_fingerprint(self, fingerprint: str) -> frozenset[str]:
        """Scopes every registered token of that :meth:`fingerprint` has (empty: none is
        registered any more); a login session opened with a token keeps no more than these
        (a token removed from the registry ends its sessions at the next restart)."""
        found = [s for known, s in self._scopes.items() if known.hex()[:8] == fingerprint]
        return frozenset.intersection(*found) if found else frozenset()

    @staticmethod
    def fingerprint(token: str) -> str:
        """A short, stable name for ``token`` for logs and the audit log (never the token).

        The first 8 hex digits of its SHA-256: enough to tell tokens apart, useless to
        recover one.
        """
        return _digest(token).hex()[:8]

    @classmethod
    def from_spec(cls, spec: str) -> TokenRegistry:
        """Parse ``token=scope,scope;token=scope``."""
        registry = cls()
        for n, part in enumerate(p for p in spec.split(";") if p.strip()):
            token, sep, scopes = part.partition("=")
            if not sep:
                raise TokenError(f"token entry {n + 1} has no '=scopes' part")
            registry.add(token.strip(), scopes.split(","))
        return registry

    @classmethod
    def from_file(cls, path: Path) -> TokenRegistry:
        """Read a tokens file (``token scope,scope`` per line).

        Raises
        ------
        TokenError
            The file is readable or writable by others than its owner (the message gives the
            ``chmod`` that fixes it), not a regular file, larger than 1 MB, or a line is bad.
        """
        registry = cls()
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise TokenError(f"{path}: not a regular file")
        if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
            raise TokenError(
                f"{path} is accessible to others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"tokens must be owner-only: chmod 600 {path}"
            )
        if info.st_size > 1_000_000:
            raise TokenError(f"{path}: larger than 1 MB; not a tokens file")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            token, _, scopes = text.partition(" ")
            if not scopes.strip():
                raise TokenError(f"{path}:{number}: expected 'TOKEN scope,scope'")
            registry.add(token, scopes.split(","))
        return registry

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, tokens_file: Path | None = None
    ) -> TokenRegistry:
        """Tokens from ``DCTWIN_TOKENS``, then ``DCTWIN_TOKENS_FILE`` or ``tokens_file``."""
        environ = os.environ if environ is None else environ
        registry = cls()
        spec = environ.get("DCTWIN_TOKENS")
        if spec:
            registry._scopes.update(cls.from_spec(spec)._scopes)
        file = environ.get("DCTWIN_TOKENS_FILE") or tokens_file
        if file and Path(file).exists():
            registry._scopes.update(cls.from_file(Path(file))._scopes)
        return registry


DEMO_GRANTS = {"read": "read", "ingest": "ingest", "approve": "approve,read", "admin": "admin"}
"""The demo token of each scope and what it grants: the approve token also reads (an approver
signs in to the UI to see what they approve; approve alone could not log in)."""


def generate_demo_tokens(path: Path) -> dict[str, str]:
    """Write one fresh random token per scope to ``path`` (mode 0600), granting
    :data:`DEMO_GRANTS`; return them by scope."""
    tokens = {scope: secrets.token_urlsafe(24) for scope in SCOPES}
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# dctwin demo tokens: one per scope (approve also reads, admin implies all). Keep private."
    ]
    lines += [f"{token} {DEMO_GRANTS[scope]}" for scope, token in tokens.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return tokens
