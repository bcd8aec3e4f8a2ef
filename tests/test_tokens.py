"""End users' auth tokens: issued, verified, and refused when anything is off."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from itsdangerous import URLSafeSerializer

from webapp import tokens
from webapp.tokens import InvalidTokenError, TokenClaims, issue_token, verify_token

KEY = "token-test-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: object, key: str = KEY) -> str:
    """Sign ``payload`` the way tokens are signed, whatever its shape."""
    return URLSafeSerializer(key, salt=tokens._SALT).dumps(payload)


def test_issued_token_verifies_to_its_claims():
    token = issue_token(KEY, workspace_id=3, end_user_id=7, name="Ann", ttl_seconds=60)

    claims = verify_token(KEY, token, workspace_id=3)

    assert isinstance(claims, TokenClaims)
    assert (claims.workspace_id, claims.end_user_id, claims.name) == (3, 7, "Ann")


def test_token_expires_at_its_expiry_time():
    token = issue_token(KEY, 3, 7, "Ann", ttl_seconds=60)
    expires_at = verify_token(KEY, token, 3).expires_at

    assert verify_token(KEY, token, 3, now=expires_at - 1).end_user_id == 7
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3, now=expires_at)


@pytest.mark.parametrize("ttl_seconds", [0, -60])
def test_token_issued_already_expired_is_refused(ttl_seconds):
    token = issue_token(KEY, 3, 7, "Ann", ttl_seconds=ttl_seconds)

    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


def test_token_of_another_workspace_is_refused():
    token = issue_token(KEY, 3, 7, "Ann", ttl_seconds=60)

    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 4)


def test_token_signed_with_another_secret_key_is_refused():
    token = issue_token("another-secret", 3, 7, "Ann", ttl_seconds=60)

    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


def test_token_with_a_changed_payload_is_refused():
    token = issue_token(KEY, 3, 7, "Ann", ttl_seconds=60)
    _, signature = token.split(".")
    payload = _b64(json.dumps({"w": 3, "u": 1, "n": "Admin", "e": 2**40}).encode())

    with pytest.raises(InvalidTokenError):
        verify_token(KEY, f"{payload}.{signature}", 3)


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c",
        "not a token",
        "é.ü",
        "\x00",
        "x" * 2049,
    ],
)
def test_garbage_strings_are_refused(token):
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


@pytest.mark.parametrize("token", [None, 42, b"bytes.token", ["a", "b"], {"w": 3}])
def test_non_strings_are_refused(token):
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


def test_very_long_token_is_refused_even_with_a_valid_signature():
    # Random text: a repetitive name would be compressed into a short token.
    token = issue_token(KEY, 3, 7, secrets.token_urlsafe(3000), ttl_seconds=60)
    assert len(token) > 2048

    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


@pytest.mark.parametrize(
    "token",
    [
        # An unsigned payload, as an "alg: none" token would carry it.
        _b64(json.dumps({"w": 3, "u": 7, "n": "Ann", "e": 2**40}).encode()),
        _b64(json.dumps({"w": 3, "u": 7, "n": "Ann", "e": 2**40}).encode()) + ".",
        ".".join(
            [
                _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                _b64(json.dumps({"w": 3, "u": 7, "n": "Ann", "e": 2**40}).encode()),
                "",
            ]
        ),
    ],
)
def test_forged_unsigned_tokens_are_refused(token):
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, 3)


@pytest.mark.parametrize(
    "payload",
    [
        [3, 7, "Ann", 2**40],
        "a string",
        {"w": 3, "u": 7, "n": "Ann"},
        {"w": "3", "u": 7, "n": "Ann", "e": 2**40},
        {"w": 3, "u": True, "n": "Ann", "e": 2**40},
        {"w": 3, "u": 7, "n": None, "e": 2**40},
        {"w": 3, "u": 7, "n": "Ann", "e": float(2**40)},
    ],
)
def test_signed_payloads_of_the_wrong_shape_are_refused(payload):
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, _signed(payload), 3)
