"""The realtime engine: connections, limits, settings enforcement, server events.

Transports call :meth:`Engine.connect`, :meth:`Engine.receive` and
:meth:`Engine.disconnect`; the app calls :meth:`Engine.publish_event`,
:meth:`Engine.workspace_changed` and :meth:`Engine.workspace_stats`. Nothing
here reads the database on the path of a frame: the loaders run when a client
connects to a workspace not cached yet and when its settings change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from webapp.backends.base import (
    Backend,
    BackendUnavailableError,
    ClusterMessage,
    Sleep,
    Spawn,
)
from webapp.realtime.admission import (
    TokenVerifier,
    claims_for,
    new_connection,
    reserve_slot,
    snapshot_for_hash,
)
from webapp.realtime.connection import Connection, Connections
from webapp.realtime.enforcement import apply_workspace_change
from webapp.realtime.errors import (
    CLOSE_NORMAL,
    CLOSE_RESTARTING,
    ClosingError,
    RealtimeDisabledError,
    RealtimeError,
    RestartingError,
    UnavailableError,
)
from webapp.realtime.events import publish_event
from webapp.realtime.frames import ClientFrame, Dispatcher, validate_frame
from webapp.realtime.limits import checked_frame
from webapp.realtime.liveness import check_liveness, resync_settings
from webapp.realtime.rooms import Rooms
from webapp.realtime.settings import LoadByHash, LoadById, SettingsCache
from webapp.realtime.sink import Outgoing, Sink

logger = logging.getLogger(__name__)


class Engine:
    """Everything the realtime server knows, behind transport-neutral calls.

    :param verify_token: returns the claims of a valid auth token of the given
        workspace, None for any other.
    :param clock: monotonic seconds, for limits and idle time (tests inject one).
    :param wall_clock: unix seconds, for history entries' ``created_at``.

    Limitation: the engine's state is not guarded by locks. It relies on
    cooperative scheduling (eventlet or gevent), where a task switches only
    while waiting on the network; with ``ASYNC_MODE=threading`` two clients
    acting on one channel at the same moment can race, and so can a client
    and the Redis backend's own task delivering the messages it stored.
    """

    def __init__(
        self,
        backend: Backend,
        load_by_hash: LoadByHash,
        load_by_id: LoadById,
        verify_token: TokenVerifier,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sweep_interval: float = 5.0,
        liveness_interval: float = 1.0,
    ) -> None:
        self.backend = backend
        self.settings = SettingsCache(load_by_hash, load_by_id)
        self.rooms = Rooms(backend)
        self.connections = Connections()
        self.sweep_interval = sweep_interval
        self.liveness_interval = liveness_interval
        self._verify_token = verify_token
        self._clock = clock
        self._wall_clock = wall_clock
        self._dispatcher = Dispatcher(self)
        self._started = False
        self._stopping = False
        # Set by shutdown(): the process is going away, new clients are refused.
        self.draining = False

    def now_ms(self) -> int:
        """Return the wall-clock time in unix milliseconds."""
        return int(self._wall_clock() * 1000)

    def start(self, spawn: Spawn, sleep: Sleep) -> None:
        """Start the backend's listener, the liveness beat and the idle sweep.

        Later calls do nothing.
        """
        if self._started:
            return
        self._started = True
        self._stopping = False
        self.backend.start(spawn, sleep, self._on_cluster_message)
        spawn(lambda: self._sweep_loop(sleep))
        spawn(lambda: self._liveness_loop(sleep))
        logger.info("realtime engine started (%s)", self.backend.describe())

    def stop(self) -> None:
        """Stop the background tasks started by :meth:`start`."""
        self._stopping = True
        self._started = False
        self.backend.stop()

    def connect(
        self, connection_hash: Any, token: Any, sink: Sink, handle: Any
    ) -> Connection:
        """Admit a client of the workspace the connection hash names.

        Limitation: the auth token is checked here only; a client stays
        authenticated after its token expires, until it reconnects.

        :raises ClosingError: with the code and close code to refuse it with.
        """
        if self.draining:
            raise RestartingError()
        snapshot = snapshot_for_hash(self.settings, connection_hash)
        if not snapshot.enabled:
            raise RealtimeDisabledError()
        claims = claims_for(self._verify_token, token, snapshot.id)
        reserve_slot(self.backend, snapshot)

        connection = new_connection(snapshot, claims, sink, handle, self._clock())
        self.connections.add(connection)
        # The last other client may have left while the backend was counting,
        # taking the cached snapshot with it: frames need it cached.
        self.settings.remember(snapshot)
        logger.info(
            "connect %s workspace %s end user %s",
            connection.socket_id,
            snapshot.id,
            connection.end_user_id,
        )
        return connection

    def connections_of(self, workspace_id: int) -> list[Connection]:
        """Return the workspace's connections in this process."""
        return self.connections.of_workspace(workspace_id)

    def frame_limit(self, connection: Connection) -> int:
        """Return the largest frame, in bytes, the connection's workspace allows."""
        snapshot = self.settings.get(connection.workspace_id)
        return snapshot.limits.max_frame_bytes if snapshot else 0

    def disconnect(self, connection: Connection) -> None:
        """Forget a closed connection: it leaves its channels. Safe to repeat.

        Limitation: messages of the client still being stored are not waited
        for (a delivery that closes a client runs where stores land); they
        still reach the channel, perhaps after the client's presence leave.
        """
        if connection.closed:
            return
        connection.closed = True
        ws = connection.workspace_id
        if self.connections.remove(connection):
            # Loaded again at the next connect: a cache that cannot go stale.
            self.settings.forget(ws)
        for channel in list(connection.memberships):
            self.rooms.leave(connection, channel)
        try:
            self.backend.remove_connection(ws)
        except BackendUnavailableError:
            logger.warning("could not count %s as closed: backend unavailable", ws)
        logger.info("disconnect %s workspace %s", connection.socket_id, ws)

    def close(self, connection: Connection, error: ClosingError | None = None) -> None:
        """Close a connection: the error frame if any, its close code, clean-up."""
        if connection.closed:
            return
        code = error.close_code if error is not None else CLOSE_NORMAL
        outgoing = Outgoing(error.to_frame()) if error is not None else None
        self.disconnect(connection)
        connection.sink.close(connection, code, outgoing)
        logger.info(
            "closed %s with %s (%s)",
            connection.socket_id,
            code,
            error.code if error is not None else "normal",
        )

    def shutdown(self) -> int:
        """Close every connection with 1012 (restarting); refuse new ones.

        Clients are told the server is restarting, without an ``error`` frame,
        so that they reconnect (to this server's successor) and resume with
        ``since``. Returns how many connections were closed; safe to repeat.
        """
        self.draining = True
        connections = self.connections.all()
        for connection in connections:
            self.disconnect(connection)
            try:
                connection.sink.close(connection, CLOSE_RESTARTING, None)
            except Exception:
                logger.exception("could not close %s", connection.socket_id)
        if connections:
            logger.info("closed %s connections: restarting", len(connections))
        return len(connections)

    def receive(
        self, connection: Connection, data: Any, size: int | None = None
    ) -> list[Outgoing]:
        """Handle one frame from a client; return the frames to send it back.

        ``data`` is the frame's text, or its decoded JSON value when the
        transport decoded it already; ``size`` is its size in bytes when known.
        Errors become ``error`` frames; closing errors close the connection.
        """
        snapshot = self.settings.get(connection.workspace_id)
        if connection.closed or snapshot is None:
            return []
        now = self._clock()
        connection.last_frame_at = now
        frame: ClientFrame | None = None
        try:
            data = checked_frame(data, size, snapshot.limits.max_frame_bytes)
            connection.bucket.take(snapshot.limits.frames_per_second, now)
            frame = validate_frame(data)
            logger.debug(
                "%s %s from %s", frame.action, frame.channel, connection.socket_id
            )
            replies = self._dispatcher.dispatch(connection, frame, snapshot)
        except ClosingError as exc:
            self.close(connection, exc)
            return []
        except BackendUnavailableError as exc:
            # The backend logged the outage once; this is one frame of many.
            logger.debug("%s for %s", exc, connection.socket_id)
            error: RealtimeError = UnavailableError()
        except RealtimeError as exc:
            logger.info("%s from %s: %s", exc.code, connection.socket_id, exc.message)
            error = exc
        else:
            return [Outgoing(reply) for reply in replies]
        return [Outgoing(error.to_frame(frame.channel if frame else None))]

    def publish_event(
        self, workspace_id: int, channel: Any, data: Any
    ) -> dict[str, Any]:
        """Send a server-side ``event`` frame to a channel; return it as delivered.

        Callable from any code of the app, as the HTTP endpoint does.

        :raises RealtimeError: ``invalid_channel``, ``channel_not_allowed``,
            ``realtime_disabled`` (off or deleted) or ``unavailable``.
        """
        return publish_event(self, workspace_id, channel, data)

    def workspace_changed(self, workspace_id: int, share: bool = True) -> None:
        """Reload a workspace's settings and enforce them on its clients at once.

        Call it after the change is committed. ``share`` tells the other server
        processes to do the same (they call it with ``share=False``).
        """
        apply_workspace_change(self, workspace_id, share)

    def sweep(self, now: float | None = None) -> int:
        """Close connections idle longer than their workspace allows; count them.

        Idle means no frame from the client: transport keep-alives (Socket.IO
        pings) do not count, so a client that only listens is closed too.
        """
        now = self._clock() if now is None else now
        closed = 0
        for connection in self.connections.all():
            snapshot = self.settings.get(connection.workspace_id)
            if snapshot is None:
                continue
            if now - connection.last_frame_at > snapshot.limits.idle_timeout_seconds:
                self.close(connection)
                closed += 1
        return closed

    def _sweep_loop(self, sleep: Sleep) -> None:
        while not self._stopping:
            sleep(self.sweep_interval)
            try:
                self.sweep()
            except Exception:
                logger.exception("idle sweep failed")

    def workspace_stats(self, workspace_id: int) -> dict[str, Any]:
        """Return the workspace's open connections and its channels' member counts.

        Counts cover every process; when the backend cannot be reached they
        are this process's own, so a dashboard still shows something.
        """
        try:
            return {
                "connections": self.backend.connection_count(workspace_id),
                "channels": self.backend.channel_counts(workspace_id),
            }
        except BackendUnavailableError:
            logger.warning("workspace %s stats: backend unavailable", workspace_id)
        rooms = self.rooms.of_workspace(workspace_id)
        return {
            "connections": len(self.connections_of(workspace_id)),
            "channels": {room.channel: len(room.members) for room in rooms},
        }

    def _liveness_loop(self, sleep: Sleep) -> None:
        while not self._stopping:
            try:
                check_liveness(self)
            except BackendUnavailableError:
                # The backend logs the outage once; the next beat retries.
                pass
            except Exception:
                logger.exception("liveness check failed")
            sleep(self.liveness_interval)

    def _on_cluster_message(self, message: ClusterMessage) -> None:
        if message.kind == "settings":
            self.workspace_changed(message.workspace_id, share=False)
        elif message.kind == "resync":
            resync_settings(self)
        else:
            self.rooms.receive(message)
