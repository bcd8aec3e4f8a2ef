"""The interface every realtime backend implements, and what crosses processes.

A backend keeps what must be shared by every server process: channel history,
channel members (presence), connection counts, and the bus that carries frames
to the other processes. The realtime core uses it only through :class:`Backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

MessageKind = Literal["broadcast", "direct", "settings", "resync"]
# Whom a broadcast reaches among a channel's members (see realtime.sink.Audience).
AUDIENCE_ALL = 0
AUDIENCE_AUTHENTICATED = 1
AUDIENCE_PRESENCE = 2


class BackendUnavailableError(RuntimeError):
    """The backend (for example Redis) cannot be reached right now."""


@dataclass(slots=True)
class ClusterMessage:
    """Something one process tells the others.

    ``broadcast``: deliver ``frame`` to the channel's local members of
    ``audience``; ``id`` is set when the frame was stored in history.
    ``direct``: deliver ``frame`` to the connection ``target`` only.
    ``settings``: the workspace's settings changed; reload and enforce them.
    ``resync``: never sent; the listener hands it to its own process when it
    subscribes again after losing Redis, as settings messages may have been
    missed meanwhile.
    """

    kind: MessageKind
    workspace_id: int
    channel: str = ""
    frame: dict[str, Any] | None = None
    audience: int = AUDIENCE_ALL
    target: str = ""
    id: int | None = None
    created_at: int = 0
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Departure:
    """A member of a channel whose server process died, now forgotten."""

    workspace_id: int
    channel: str
    client: dict[str, Any]
    presence: bool


# What :meth:`Backend.beat` found: this process still registered; forgotten by
# the backend (an empty restart) without anyone told; or taken for dead by
# another process, which announced its members' leaves.
Liveness = Literal["alive", "forgotten", "reaped"]

Spawn = Callable[[Callable[[], None]], object]
Sleep = Callable[[float], None]
MessageHandler = Callable[[ClusterMessage], None]


class Pending(Protocol):
    """The outcome of a backend call that may still be on its way."""

    def wait(self) -> Any:
        """Wait for the outcome and return it, or raise the call's failure."""
        ...


@dataclass(frozen=True, slots=True)
class Done:
    """An outcome known at once: a value, or an error to raise."""

    value: Any
    error: BaseException | None = None

    def wait(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def entries_after(
    entries: list[dict[str, Any]], since: int
) -> list[dict[str, Any]] | None:
    """Return the history entries after id ``since``; None when it is not held."""
    for index, entry in enumerate(entries):
        if entry["id"] == since:
            return entries[index + 1 :]
    return None


class Backend(Protocol):
    """Storage and cross-process fan-out for history, presence and connections.

    Every method but :meth:`describe` may raise
    :class:`BackendUnavailableError`.
    """

    process_id: str

    def describe(self) -> str:
        """Return a short description for logs, without credentials."""
        ...

    def check(self) -> None:
        """Make sure the backend is reachable and ready."""
        ...

    def start(self, spawn: Spawn, sleep: Sleep, on_message: MessageHandler) -> None:
        """Start listening to other processes; ``on_message`` gets their messages.

        ``spawn`` starts a background task cooperating with the server's async
        mode, ``sleep`` waits cooperatively. Calling it again does nothing.
        """
        ...

    def stop(self) -> None:
        """Stop the listener started by :meth:`start`.

        Other processes then forget this one's remaining members at once,
        rather than when its liveness expires.
        """
        ...

    def listening(self) -> bool | None:
        """Tell whether the listener hears the other processes right now.

        None when there is nothing to hear: no listener was started, or the
        backend serves one process only.
        """
        ...

    def beat(self) -> Liveness:
        """Renew this process's liveness; tell whether it must register again.

        After ``forgotten`` or ``reaped`` the caller records its connections
        (:meth:`set_connections`) and members (:meth:`add_member`) again.
        """
        ...

    def reap(self) -> list[Departure]:
        """Forget the members and connections of processes that stopped beating.

        Each dead process is reaped by one surviving process only, which gets
        its members back to announce their leaves.
        """
        ...

    def publish(self, message: ClusterMessage) -> None:
        """Send ``message`` to the other processes, never back to this one."""
        ...

    def store(
        self,
        message: ClusterMessage,
        history_size: int,
        then: Callable[[Pending], None] | None = None,
    ) -> Pending:
        """Queue a broadcast to be stored in its channel's history, then published.

        The entry is kept among the channel's last ``history_size``; its id
        goes into ``message.id``, and :meth:`Pending.wait` returns it.
        ``then`` is called with the pending store once its outcome is known
        (perhaps before this returns, perhaps from another task): this
        process's stores complete in the order of the calls, so ids and
        ``then`` calls follow that order within a channel (for the one
        exception see the Limitation of ``redis_batch``). The backend's
        failures are raised by :meth:`Pending.wait`, not by this call; a
        frame that cannot be encoded is a caller's error and raised here.
        """
        ...

    def append_history(
        self,
        workspace_id: int,
        channel: str,
        frame: dict[str, Any],
        created_at: int,
        size: int,
    ) -> int:
        """Store ``frame`` as the channel's newest entry, keep ``size``; return its id.

        Ids increase within a channel. The stored entry is the frame with the
        id in its ``options`` plus ``id`` and ``created_at``.
        """
        ...

    def history(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        """Return the channel's history entries, oldest first."""
        ...

    def history_since(
        self, workspace_id: int, channel: str, since: int
    ) -> list[dict[str, Any]] | None:
        """Return the entries after id ``since``, or None when it is not held."""
        ...

    def add_member(
        self,
        workspace_id: int,
        channel: str,
        socket_id: str,
        client: dict[str, Any],
        presence: bool,
    ) -> None:
        """Record a channel member; ``presence`` makes it visible in presence."""
        ...

    def remove_member(self, workspace_id: int, channel: str, socket_id: str) -> None:
        """Forget a channel member (nothing happens when it is unknown)."""
        ...

    def member(
        self, workspace_id: int, channel: str, socket_id: str
    ) -> dict[str, Any] | None:
        """Return the client object of a member of the channel, or None."""
        ...

    def presence(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        """Return the client objects of the members that joined with presence.

        They come in join order; joining again counts as a new join.
        """
        ...

    def channel_counts(self, workspace_id: int) -> dict[str, int]:
        """Return the number of members of each channel that has any."""
        ...

    def add_connection(self, workspace_id: int, limit: int) -> bool:
        """Count a new connection unless ``limit`` are open already; tell which."""
        ...

    def remove_connection(self, workspace_id: int) -> None:
        """Count a connection of the workspace as closed."""
        ...

    def set_connections(self, workspace_id: int, count: int) -> None:
        """Record that this process has ``count`` connections of the workspace."""
        ...

    def connection_count(self, workspace_id: int) -> int:
        """Return the number of open connections of the workspace."""
        ...

    def forget_workspace(self, workspace_id: int) -> None:
        """Drop everything kept for a deleted workspace."""
        ...
