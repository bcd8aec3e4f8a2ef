"""Admitting a client: which workspace, who the client is, whether there is room."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from webapp.backends.base import Backend, BackendUnavailableError
from webapp.realtime.connection import Connection
from webapp.realtime.errors import (
    ConnectionLimitError,
    ConnectUnavailableError,
    InvalidAuthTokenError,
    InvalidHashError,
)
from webapp.realtime.limits import TokenBucket
from webapp.realtime.presence import build_client
from webapp.realtime.rules import WorkspaceSnapshot
from webapp.realtime.settings import SettingsCache
from webapp.realtime.sink import Sink
from webapp.tokens import TokenClaims

logger = logging.getLogger(__name__)

TokenVerifier = Callable[[str, int], TokenClaims | None]
MAX_HASH_LENGTH = 128


class _SharedPart(dict):
    """A part of client objects that many clients hold at once: read-only."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a client part shared by many clients cannot change")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles are plain dicts: only this one is shared.
        return (dict, (dict(self),))


# The parts every anonymous client has alike, held once rather than by each
# of them: two dicts fewer per connection.
_SHARED_PARTS = {
    "extras": _SharedPart(),
    "permissions": _SharedPart(dbo_id=0, row_id=0),
}


def _with_shared_parts(client: dict[str, Any]) -> dict[str, Any]:
    """Replace the parts of ``client`` equal to a shared one by that one.

    Limitation: client objects are only read (sent, stored, compared); code
    that changed a part in place would raise for anonymous clients.
    """
    for key, shared in _SHARED_PARTS.items():
        if client.get(key) == shared:
            client[key] = shared
    return client


def snapshot_for_hash(
    settings: SettingsCache, connection_hash: Any
) -> WorkspaceSnapshot:
    """Return the snapshot of the workspace a connection hash names.

    :raises InvalidHashError: for anything but a hash of a workspace.
    :raises ConnectUnavailableError: when the settings cannot be loaded.
    """
    if not isinstance(connection_hash, str):
        raise InvalidHashError()
    if not 0 < len(connection_hash) <= MAX_HASH_LENGTH:
        raise InvalidHashError()
    try:
        snapshot = settings.for_hash(connection_hash)
    except Exception:
        logger.exception("could not load workspace settings")
        raise ConnectUnavailableError() from None
    if snapshot is None:
        raise InvalidHashError()
    return snapshot


def claims_for(
    verify: TokenVerifier, token: Any, workspace_id: int
) -> TokenClaims | None:
    """Return the claims of the client's auth token, None when it sent none.

    :raises InvalidAuthTokenError: for a token that is not valid here.
    """
    if token is None or token == "":
        return None
    claims = verify(token, workspace_id) if isinstance(token, str) else None
    if claims is None:
        raise InvalidAuthTokenError()
    return claims


def reserve_slot(backend: Backend, snapshot: WorkspaceSnapshot) -> None:
    """Count one more connection of the workspace, within its limit.

    :raises ConnectionLimitError: when the workspace has all it may have.
    :raises ConnectUnavailableError: when the backend cannot count.
    """
    try:
        admitted = backend.add_connection(snapshot.id, snapshot.limits.max_connections)
    except BackendUnavailableError as exc:
        logger.warning("%s: refusing a client of %s", exc, snapshot.id)
        raise ConnectUnavailableError() from None
    if not admitted:
        raise ConnectionLimitError()


def new_connection(
    snapshot: WorkspaceSnapshot,
    claims: TokenClaims | None,
    sink: Sink,
    handle: Any,
    now: float,
) -> Connection:
    """Return the state of a newly admitted client, with a fresh socket id."""
    socket_id = secrets.token_urlsafe(12)
    return Connection(
        socket_id=socket_id,
        workspace_id=snapshot.id,
        connection_hash=snapshot.connection_hash,
        client=_with_shared_parts(build_client(socket_id, snapshot.id, claims)),
        sink=sink,
        handle=handle,
        bucket=TokenBucket(float(snapshot.limits.frames_per_second), now),
        last_frame_at=now,
    )
