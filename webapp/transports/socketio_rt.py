"""The Socket.IO transport: namespace ``/rt``, one ``rt`` event each way.

Handlers unpack, call the engine, emit. Channels map to Socket.IO rooms (one
per channel and audience). A broadcast's Socket.IO packet is built from the
frame's JSON text, which the engine encodes once for every transport, and the
same packet goes into each member's Engine.IO queue: python-socketio's own
emit would encode the frame again and walk it looking for binary data.

python-engineio queues every client's packets without a bound; before each
emit the sink looks at the recipients' queues, and a client with more than
:data:`MAX_QUEUED_PACKETS` waiting is closed (``slow_consumer``).

Limitation: that bound reads internals of python-socketio and python-engineio
(the manager's rooms, the Engine.IO sockets and their queues), so an upgrade
of either can break it; ``tests/test_slow_consumer.py`` would show it. The
connection of a client that stopped reading is released only by Engine.IO's
ping timeout, its queue emptied at once.

Limitation: the shared packet goes out through the server's private
``_send_eio_packet``, and is written as text the way python-socketio's
default JSON packet class writes an event; a server made with another packet
class (msgpack) would need its own. Every Socket.IO test goes through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import socketio
from engineio import packet as eio_packet

from webapp.realtime.connection import Connection, Room
from webapp.realtime.engine import Engine
from webapp.realtime.errors import (
    CLOSE_RESTARTING,
    ClosingError,
    ConnectUnavailableError,
    InvalidFrameError,
    SlowConsumerError,
)
from webapp.realtime.sink import Audience, Outgoing

logger = logging.getLogger(__name__)

NAMESPACE = "/rt"
EVENT = "rt"
# Stands for a client's event of another name among its frames.
_NOT_RT = object()
# A Socket.IO EVENT packet of the namespace, up to the event's argument.
_EVENT_HEAD = f'2{NAMESPACE},["{EVENT}",'
# Packets a client may have waiting in its Engine.IO queue before it is closed.
CHECK_EVERY = 8
MAX_QUEUED_PACKETS = 1000


class SocketIOSink:
    """Deliver frames to Socket.IO clients through rooms of the ``/rt`` namespace."""

    def __init__(self, server: socketio.Server) -> None:
        self._server = server
        # Called, in a task of its own, with the sid of a client too far behind.
        self.on_slow: Callable[[str], None] | None = None
        self._slow: set[str] = set()
        # Broadcasts per room name since its members' queues were last looked at.
        self._unchecked: dict[str, int] = {}

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
        rooms = self._server.manager.rooms.get(NAMESPACE, {})
        for name in room.names:
            self._server.leave_room(connection.handle, name, namespace=NAMESPACE)
            if name not in rooms:
                self._unchecked.pop(name, None)

    def deliver(self, room: Room, outgoing: Outgoing, audience: Audience) -> None:
        name = room.names[audience]
        # Looking at every member's queue costs a step per member: done on one
        # broadcast in CHECK_EVERY, a backlog still cannot grow far past the
        # bound before it is found.
        members = self._server.manager.rooms.get(NAMESPACE, {}).get(name)
        if not members:
            return
        unchecked = self._unchecked.get(name, CHECK_EVERY)
        if unchecked >= CHECK_EVERY:
            unchecked = 0
            self._check_backlogs(members)
        self._unchecked[name] = unchecked + 1
        packet = _event_packet(outgoing)
        # The server's own hook for a ready Engine.IO packet, as its emit uses.
        send = self._server._send_eio_packet
        # A copy: sending never changes the room, but a closed client may.
        for eio_sid in tuple(members.values()):
            send(eio_sid, packet)

    def send(self, connection: Connection, outgoing: Outgoing) -> None:
        sid = connection.handle
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return
        self._check_backlogs({sid: eio_sid})
        self._server._send_eio_packet(eio_sid, _event_packet(outgoing))

    def close(
        self, connection: Connection, code: int, outgoing: Outgoing | None
    ) -> None:
        if code == CLOSE_RESTARTING:
            # socket.io-client reconnects by itself after a transport close,
            # never after a disconnect the server asked for.
            self.close_transport(connection.handle)
            return
        # Socket.IO has no close codes: the error frame says why.
        if outgoing is not None:
            self.send(connection, outgoing)
        self._server.disconnect(connection.handle, namespace=NAMESPACE)

    def close_transport(self, sid: str) -> None:
        """Close a client's Engine.IO connection without a Socket.IO disconnect."""
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        socket = self._server.eio.sockets.get(eio_sid) if eio_sid else None
        if socket is not None:
            # Without waiting: the close packet follows whatever is queued.
            socket.close(wait=False)

    def _check_backlogs(self, recipients: Mapping[str, str] | None) -> None:
        """Close the recipients (sid to Engine.IO sid) that fell too far behind."""
        if not recipients:
            return
        sockets = self._server.eio.sockets
        for sid, eio_sid in recipients.items():
            socket = sockets.get(eio_sid)
            if socket is not None and socket.queue.qsize() >= MAX_QUEUED_PACKETS:
                self._drop_backlog(sid, socket.queue)

    def _drop_backlog(self, sid: str, queue: Any) -> None:
        if sid in self._slow:
            return
        self._slow.add(sid)
        logger.info("closing a Socket.IO client that stopped reading")
        # What it has not taken is dropped: the memory goes at once, and a
        # client that reads again gets the error frame next.
        empty = self._server.eio.get_queue_empty_exception()
        while True:
            try:
                packet = queue.get_nowait()
            except empty:
                break
            queue.task_done()
            if packet is None:
                # The socket is closing already; its writer waits for this mark.
                queue.put(None)
                break
        # Not here: this runs inside a broadcast, which must not switch tasks.
        self._server.start_background_task(self._close_slow, sid)

    def _close_slow(self, sid: str) -> None:
        try:
            if self.on_slow is not None:
                self.on_slow(sid)
        finally:
            self._slow.discard(sid)


def _event_packet(outgoing: Outgoing) -> eio_packet.Packet:
    """Return the Engine.IO packet of an ``rt`` event carrying the frame."""
    return eio_packet.Packet(eio_packet.MESSAGE, f"{_EVENT_HEAD}{outgoing.text}]")


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
        self.sink.on_slow = self._close_slow_client
        self._server = server
        self._connections: dict[str, Connection] = {}
        # Frames that arrive while their client is still being admitted: with
        # long-polling they come in another request, which may run meanwhile.
        self._pending: dict[str, list[Any]] = {}

    def trigger_event(self, event: Any, *args: Any) -> Any:
        """Run a handler; a client's event other than ``rt`` gets ``invalid_frame``.

        Clients' events come through here like the server's own connect and
        disconnect, under any name: an event a client *named* ``connect`` or
        ``disconnect`` is told apart by its sid, which a real connect has not
        been seen with and a real disconnect has already given up.

        Limitation: packets python-socketio cannot decode (broken JSON, or
        nesting past Python's recursion limit) never get here: the library
        drops them without an answer, and the connection stays open.
        """
        sid = args[0] if args else None
        if event == "connect":
            forged = sid in self._connections or sid in self._pending
        elif event == "disconnect":
            forged = self._server.manager.is_connected(sid, NAMESPACE)
        else:
            forged = event != EVENT
        if not forged:
            return super().trigger_event(event, *args)
        # Answered in turn with the client's frames.
        self.on_rt(sid, _NOT_RT)
        return None

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
            if exc.close_code == CLOSE_RESTARTING:
                return self._turn_away(sid)
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

    def _turn_away(self, sid: str) -> bool:
        # A restarting server closes the transport, as it did for the clients
        # it had, so that the client comes back by itself; refusing the
        # namespace would tell socket.io-client to give up.
        self._pending.pop(sid, None)
        self._server.start_background_task(self.sink.close_transport, sid)
        return True

    def _close_slow_client(self, sid: str) -> None:
        connection = self._connections.get(sid)
        if connection is not None:
            self.engine.close(connection, SlowConsumerError())

    def on_rt(self, sid: str, data: Any = None, *extra: Any) -> None:
        pending = self._pending.get(sid)
        if pending is not None:
            pending.append(data)
            return
        connection = self._connections.get(sid)
        if connection is not None:
            self._handle(sid, connection, data)

    def _handle(self, sid: str, connection: Connection, data: Any) -> None:
        if data is _NOT_RT:
            error = InvalidFrameError("Frames travel in events named rt.")
            self._server.emit(EVENT, error.to_frame(), to=sid, namespace=NAMESPACE)
            return
        try:
            replies = self.engine.receive(connection, data)
        except Exception:
            logger.exception("failed to handle a frame from %s", connection.socket_id)
            return
        for outgoing in replies:
            self.sink.send(connection, outgoing)

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
