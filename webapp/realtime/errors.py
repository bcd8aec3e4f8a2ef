"""Coded realtime errors: one class per protocol error code, and the closing ones.

A :class:`RealtimeError` becomes an ``error`` frame and leaves the connection
open. A :class:`ClosingError` also closes it, with a close code from the
protocol's table; most are raised while a client connects.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Close codes, as the protocol's table names them.
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTARTING = 1012
CLOSE_TRY_AGAIN = 1013
CLOSE_RECONNECT = 4000


class RealtimeError(Exception):
    """A client's request the server answers with an ``error`` frame."""

    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "The request failed."

    def __init__(self, message: str | None = None, *, channel: str | None = None):
        self.message = message or self.default_message
        self.channel = channel
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        """Return the ``error`` frame's payload."""
        return {"code": self.code, "message": self.message}

    def to_frame(self, channel: str | None = None) -> dict[str, Any]:
        """Return the ``error`` frame, naming the channel where one applies."""
        channel = channel or self.channel
        options = {"channel": channel} if channel else {}
        return {"action": "error", "options": options, "payload": self.payload()}


class InvalidFrameError(RealtimeError):
    code = "invalid_frame"
    default_message = "The frame is not a valid realtime frame."


class InvalidChannelError(RealtimeError):
    code = "invalid_channel"
    default_message = "The channel name is not valid."


class ChannelNotAllowedError(RealtimeError):
    code = "channel_not_allowed"
    default_message = "No channel rule of this workspace allows that channel."


class AuthRequiredError(RealtimeError):
    code = "auth_required"
    default_message = "This channel requires an authenticated client."


class PublishNotAllowedError(RealtimeError):
    code = "publish_not_allowed"
    default_message = "This channel does not let this client publish."


class NotJoinedError(RealtimeError):
    code = "not_joined"
    default_message = "Join the channel first."


class UnknownClientError(RealtimeError):
    code = "unknown_client"
    default_message = "No such client in this channel."


class PayloadTooLargeError(RealtimeError):
    code = "payload_too_large"
    default_message = "The frame is larger than this workspace allows."


class RateLimitedError(RealtimeError):
    code = "rate_limited"
    default_message = "Too many frames; slow down."

    def __init__(self, retry_after_ms: int, *, channel: str | None = None):
        super().__init__(channel=channel)
        self.retry_after_ms = retry_after_ms

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "retry_after_ms": self.retry_after_ms}


class HistoryDisabledError(RealtimeError):
    code = "history_disabled"
    default_message = "This channel keeps no history."


class UnavailableError(RealtimeError):
    code = "unavailable"
    default_message = "The service is briefly unavailable; try again later."


class ClosingError(RealtimeError):
    """An error after which the server closes the connection with ``close_code``."""

    close_code: ClassVar[int] = CLOSE_POLICY


class InvalidHashError(ClosingError):
    code = "invalid_hash"
    default_message = "Unknown connection hash."


class RealtimeDisabledError(ClosingError):
    code = "realtime_disabled"
    default_message = "Realtime is switched off for this workspace."


class InvalidAuthTokenError(ClosingError):
    code = "invalid_token"
    default_message = "The auth token is invalid or expired."


class ConnectionLimitError(ClosingError):
    code = "connection_limit"
    default_message = "Too many connections for this workspace."
    close_code = CLOSE_TRY_AGAIN


class FrameFarTooLargeError(ClosingError):
    code = "payload_too_large"
    default_message = "The frame is far larger than this workspace allows."
    close_code = CLOSE_TOO_BIG


class ConnectUnavailableError(ClosingError):
    code = "unavailable"
    default_message = UnavailableError.default_message
    close_code = CLOSE_INTERNAL


class SlowConsumerError(ClosingError):
    code = "slow_consumer"
    default_message = (
        "Too many frames were waiting for this client; reconnect and resume."
    )
    close_code = CLOSE_TRY_AGAIN


class RestartingError(ClosingError):
    code = "unavailable"
    default_message = "The server is restarting; connect again in a moment."
    close_code = CLOSE_RESTARTING
