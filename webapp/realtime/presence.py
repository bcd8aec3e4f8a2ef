"""Client objects and the presence frames built from them."""

from __future__ import annotations

from typing import Any

from webapp.tokens import TokenClaims


def build_client(
    socket_id: str, workspace_id: int, claims: TokenClaims | None
) -> dict[str, Any]:
    """Return the protocol's client object for a connection.

    ``claims`` are those of the connection's verified auth token, None for an
    anonymous client.
    """
    if claims is None:
        return {
            "socketId": socket_id,
            "extras": {},
            "permissions": {"dbo_id": 0, "row_id": 0},
            "authenticated": False,
        }
    return {
        "socketId": socket_id,
        "extras": {"id": claims.end_user_id, "name": claims.name},
        "permissions": {"dbo_id": workspace_id, "row_id": claims.end_user_id},
        "authenticated": True,
    }


def presence_full_frame(channel: str, clients: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the frame listing everyone in a channel's presence."""
    return {
        "action": "presence_full",
        "options": {"channel": channel},
        "payload": {"presence": clients},
    }


def presence_update_frame(
    channel: str, action: str, client: dict[str, Any]
) -> dict[str, Any]:
    """Return the frame telling that ``client`` joined or left (``action``)."""
    return {
        "action": "presence_update",
        "options": {"channel": channel},
        "payload": {"action": action, "presence": client},
    }
