"""End users' auth tokens: signed, expiring, and checked without a database read.

The same token authenticates API group calls (``Authorization: Bearer``) and
realtime connections. It names its workspace, so a token of one workspace is
refused by every other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "webapp.end-user-auth-token"


class InvalidTokenError(ValueError):
    """The token is malformed, tampered with, expired or of another workspace."""


@dataclass(frozen=True)
class TokenClaims:
    workspace_id: int
    end_user_id: int
    name: str
    expires_at: int


def issue_token(
    secret_key: str, workspace_id: int, end_user_id: int, name: str, ttl_seconds: int
) -> str:
    """Return a signed auth token for an end user of a workspace."""
    serializer = URLSafeSerializer(secret_key, salt=_SALT)
    payload = {
        "w": workspace_id,
        "u": end_user_id,
        "n": name,
        "e": int(time.time()) + ttl_seconds,
    }
    return serializer.dumps(payload)


def verify_token(
    secret_key: str, token: str, workspace_id: int, now: float | None = None
) -> TokenClaims:
    """Return the claims of ``token`` if it is valid for ``workspace_id``.

    :raises InvalidTokenError: for anything but a valid, unexpired token of
        that workspace.
    """
    # Issued tokens are short URL-safe ASCII; anything else is no token of ours
    # (and non-ASCII text would fail inside the signature check).
    if not isinstance(token, str) or not 0 < len(token) <= 2048 or not token.isascii():
        raise InvalidTokenError("malformed token")
    serializer = URLSafeSerializer(secret_key, salt=_SALT)
    try:
        payload = serializer.loads(token)
    except BadSignature:
        raise InvalidTokenError("bad signature") from None
    if not isinstance(payload, dict):
        raise InvalidTokenError("malformed token")

    try:
        claims = TokenClaims(
            workspace_id=payload["w"],
            end_user_id=payload["u"],
            name=payload["n"],
            expires_at=payload["e"],
        )
    except KeyError:
        raise InvalidTokenError("malformed token") from None
    if not all(
        type(value) is int
        for value in (claims.workspace_id, claims.end_user_id, claims.expires_at)
    ) or not isinstance(claims.name, str):
        raise InvalidTokenError("malformed token")
    if claims.workspace_id != workspace_id:
        raise InvalidTokenError("token of another workspace")
    if claims.expires_at <= (time.time() if now is None else now):
        raise InvalidTokenError("expired token")
    return claims
