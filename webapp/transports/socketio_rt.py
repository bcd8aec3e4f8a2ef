"""The Socket.IO transport: namespace ``/rt``, one ``rt`` event each way.

Handlers unpack, call the engine, emit. Channels map to Socket.IO rooms (one
per channel and audience), so a broadcast is one emit that python-socketio
encodes once for every member in this process.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from webapp.realtime.connection import Connection, Room
from webapp.realtime.engine import Engine
from webapp.realtime.errors import ClosingError, ConnectUnavailableError
from webapp.realtime.sink import Audience, Outgoing

logger = logging.getLogger(__name__)

NAMESPACE = "/rt"
EVENT = "rt"


class SocketIOSink:
    """Deliver frames to Socket.IO clients through rooms of the ``/rt`` namespace."""

    def __init__(self, server: socketio.Server) -> None:
        self._server = server

    def attach(self, connection: Connection, room: Room, presence: bool) -> None:
        sid = connection.handle
        all_name, authenticated_name, presence_name = room.names
        self._server.enter_room(sid, all_name, namespace=NAMESPACE)
        if connection.authenticated:
            self._server.enter_room(sid, authenticated_name, namespace=NAMESPACE)
        if presence:
            self._server.enter_room(sid, presence_name, namespace=NAMESPACE)
        else:
            self._server.leave_room(sid, presence_name, namespace=NAMESPACE)

    def detach(self, connection: Connection, room: Room) -> None:
        for name in room.names:
            self._server.leave_room(connection.handle, name, namespace=NAMESPACE)

    def deliver(self, room: Room, outgoing: Outgoing, audience: Audience) -> None:
        self._server.emit(
            EVENT, outgoing.frame, to=room.names[audience], namespace=NAMESPACE
        )

    def send(self, connection: Connection, outgoing: Outgoing) -> None:
        self._server.emit(
            EVENT, outgoing.frame, to=connection.handle, namespace=NAMESPACE
        )

    def close(
        self, connection: Connection, code: int, outgoing: Outgoing | None
    ) -> None:
        # Socket.IO has no close codes: the error frame says why.
        if outgoing is not None:
            self.send(connection, outgoing)
        self._server.disconnect(connection.handle, namespace=NAMESPACE)


def _credentials(auth: Any) -> tuple[Any, Any]:
    if not isinstance(auth, dict):
        return None, None
    return auth.get("hash"), auth.get("token")


class RealtimeNamespace(socketio.Namespace):
    """The ``/rt`` namespace: connect with ``auth: {hash, token}``, then ``rt``.

    Relies on the server's ``always_connect`` option: a refused client is
    connected first, so it receives the ``error`` frame before the disconnect.
    """

    def __init__(self, engine: Engine, server: socketio.Server) -> None:
        super().__init__(NAMESPACE)
        self.engine = engine
        self.sink = SocketIOSink(server)
        self._server = server
        self._connections: dict[str, Connection] = {}
        # Frames that arrive while their client is still being admitted: with
        # long-polling they come in another request, which may run meanwhile.
        self._pending: dict[str, list[Any]] = {}

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        # Background tasks start with the first client, never at import or in
        # tests that only build the app.
        self.engine.start(self._server.start_background_task, self._server.sleep)
        connection_hash, token = _credentials(auth)
        pending = self._pending[sid] = []
        try:
            connection = self.engine.connect(connection_hash, token, self.sink, sid)
        except ClosingError as exc:
            logger.info("refused %s: %s", sid, exc.code)
            return self._refuse(sid, exc)
        except Exception:
            logger.exception("failed to admit %s", sid)
            return self._refuse(sid, ConnectUnavailableError())
        if self._pending.get(sid) is not pending:
            # The client left while it was being admitted.
            self.engine.disconnect(connection)
            return False
        self._connections[sid] = connection
        while pending:
            self._handle(sid, connection, pending.pop(0))
        self._pending.pop(sid, None)
        return True

    def _refuse(self, sid: str, error: ClosingError) -> bool:
        self._pending.pop(sid, None)
        self._server.emit(EVENT, error.to_frame(), to=sid, namespace=NAMESPACE)
        return False

    def on_rt(self, sid: str, data: Any = None, *extra: Any) -> None:
        pending = self._pending.get(sid)
        if pending is not None:
            pending.append(data)
            return
        connection = self._connections.get(sid)
        if connection is not None:
            self._handle(sid, connection, data)

    def _handle(self, sid: str, connection: Connection, data: Any) -> None:
        try:
            replies = self.engine.receive(connection, data)
        except Exception:
            logger.exception("failed to handle a frame from %s", connection.socket_id)
            return
        for outgoing in replies:
            self._server.emit(EVENT, outgoing.frame, to=sid, namespace=NAMESPACE)

    def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._pending.pop(sid, None)
        connection = self._connections.pop(sid, None)
        if connection is None:
            return
        try:
            self.engine.disconnect(connection)
        except Exception:
            logger.exception("failed to clean up after %s", connection.socket_id)


def init_socketio(engine: Engine, server: socketio.Server) -> RealtimeNamespace:
    """Register the ``/rt`` namespace on the Socket.IO server.

    :raises ValueError: unless the server was made with ``always_connect=True``
        (refusals send their error frame first) and ``async_handlers=False``
        (a client's frames run in the order sent).
    """
    if not server.always_connect or server.async_handlers:
        raise ValueError(
            "the realtime namespace needs a Socket.IO server with "
            "always_connect=True and async_handlers=False"
        )
    namespace = RealtimeNamespace(engine, server)
    server.register_namespace(namespace)
    return namespace
