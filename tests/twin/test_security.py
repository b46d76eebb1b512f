"""Bearer tokens: scopes, admin implies all, files and environment, nothing leaks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from twin.api.security import SCOPES, TokenError, TokenRegistry, generate_demo_tokens

TOKEN = "a-long-enough-token-0001"


def test_scopes_and_admin() -> None:
    registry = TokenRegistry.from_spec(f"{TOKEN}=read,ingest;admin-token-0000000001=admin")
    assert registry.scopes(TOKEN) == frozenset({"read", "ingest"})
    assert registry.scopes("admin-token-0000000001") == frozenset(SCOPES)
    assert registry.scopes("unknown-token-000000") is None
    assert registry.scopes(None) is None
    assert TOKEN not in repr(registry)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{TOKEN}=read,fly", "unknown scope"),
        ("short=read", "at least 16"),
        (TOKEN, "no '=scopes'"),
    ],
)
def test_bad_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        TokenRegistry.from_spec(spec)


def test_demo_tokens_file_is_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tokens.txt"
    tokens = generate_demo_tokens(path)
    assert set(tokens) == set(SCOPES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    registry = TokenRegistry.from_file(path)
    assert registry.scopes(tokens["ingest"]) == frozenset({"ingest"})
    # an approver can sign in to the UI to see what they approve (tester: approve alone
    # was refused by the login page)
    assert registry.scopes(tokens["approve"]) == frozenset({"approve", "read"})
    assert registry.scopes(tokens["admin"]) == frozenset(SCOPES)
    env = TokenRegistry.from_environment({"DCTWIN_TOKENS_FILE": str(path)})
    assert len(env) == 4
    assert len(TokenRegistry.from_environment({})) == 0
