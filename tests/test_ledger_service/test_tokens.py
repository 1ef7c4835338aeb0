"""Tenant read tokens: minted by the helper or the CLI, verified on every read; anything else is a 401."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from ledger_service.errors import UnauthorizedError
from ledger_service.tokens import AUDIENCE, ISSUER, mint_read_token, parse_ttl, verify_read_token
from tests.support.server import RunningLedger

SECRET = "a-test-secret-of-at-least-thirty-two-bytes"


def test_a_minted_token_names_its_tenant() -> None:
    assert verify_read_token(SECRET, mint_read_token(SECRET, "t_a", timedelta(minutes=5))) == "t_a"


def claims(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "sub": "t_a",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


# Built when the test runs, not at collection: a token minted then would expire while a slow suite runs.
@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            lambda: mint_read_token(SECRET, "t_a", timedelta(seconds=1), now=datetime.now(UTC) - timedelta(hours=1)),
            "expired",
        ),
        (
            lambda: mint_read_token("another-secret-of-at-least-thirty-two-bytes", "t_a", timedelta(minutes=5)),
            "not valid",
        ),
        (lambda: jwt.encode(claims(exp=None), SECRET), "not valid"),
        (lambda: jwt.encode(claims(aud="elsewhere"), SECRET), "not valid"),
        (lambda: jwt.encode(claims(), "", algorithm="none"), "not valid"),
        (lambda: "not-a-jwt", "not valid"),
    ],
    ids=["expired", "forged", "no-expiry", "other-audience", "alg-none", "garbage"],
)
def test_bad_tokens_are_refused(token: Callable[[], str], message: str) -> None:
    with pytest.raises(UnauthorizedError, match=message):
        verify_read_token(SECRET, token())


def test_expired_forged_and_missing_tokens_get_401_over_http(ledger: RunningLedger) -> None:
    secret = ledger.settings.secret_key.get_secret_value()
    expired = mint_read_token(secret, "t_a", timedelta(seconds=1), now=datetime.now(UTC) - timedelta(minutes=5))
    forged = mint_read_token("another-secret-of-at-least-thirty-two-bytes", "t_a", timedelta(minutes=5))
    for headers in ({"Authorization": f"Bearer {expired}"}, {"Authorization": f"Bearer {forged}"}, {}):
        response = httpx.get(f"{ledger.url}/api/billing/usage/summary", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    valid = mint_read_token(secret, "t_a", timedelta(minutes=5))
    response = httpx.get(f"{ledger.url}/api/billing/usage/summary", headers={"Authorization": f"Bearer {valid}"})
    assert response.status_code == 200 and response.json()["tenantId"] == "t_a"


def test_the_cli_mints_a_token_with_the_secret_key() -> None:
    env = {**os.environ, "LEDGER_SECRET_KEY": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "ledger_service.cli", "token", "--tenant", "t_cli", "--ttl", "2h"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert verify_read_token(SECRET, token) == "t_cli"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["exp"] - claims["iat"] == 7200


def test_ttl_and_tenant_are_checked() -> None:
    assert parse_ttl("15m") == timedelta(minutes=15) and parse_ttl("900") == timedelta(seconds=900)
    assert parse_ttl("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="not a duration"):
        parse_ttl("soon")
    with pytest.raises(ValueError, match="ttl must be"):
        mint_read_token(SECRET, "t_a", timedelta(days=90))
    with pytest.raises(ValueError, match="tenant id"):
        mint_read_token(SECRET, "", timedelta(minutes=5))
