"""The plain WebSocket transport: ``/rt/<connection hash>``, the hosted SDK's wire.

Each WebSocket text message is one frame of the protocol. The realtime auth
token arrives as the offered subprotocol and is selected back in the
handshake. A broadcast is framed once and the same bytes are written to every
member's socket without waiting: what a slow reader cannot take at once is
queued for it, up to a bound past which it is closed with 1013 (what it has not
taken is dropped; it may reconnect and resume with ``since``).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, request
from wsproto.connection import Connection as FrameParser
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from webapp.blueprints.errors import error_response
from webapp.realtime.connection import Connection, Room
from webapp.realtime.engine import Engine
from webapp.realtime.errors import (
    CLOSE_NORMAL,
    ClosingError,
    InvalidAuthTokenError,
    InvalidFrameError,
    SlowConsumerError,
)
from webapp.realtime.limits import FAR_OVER_FACTOR
from webapp.realtime.sink import Audience, Outgoing
from webapp.transports import websocket_wire as wire
from webapp.transports.websocket_client import (
    ClientState,
    WebSocketClient,
)

logger = logging.getLogger(__name__)

# How long a closing connection waits for the client's close frame.
CLOSE_WAIT_SECONDS = 5.0
_RECEIVE_BYTES = 65536
_PONG = 0xA


class WebSocketSink:
    """Deliver frames to this process's plain WebSocket members of each room."""

    def __init__(self) -> None:
        self._audiences: dict[str, set[WebSocketClient]] = {}

    def attach(self, connection: Connection, room: Room, presence: bool) -> None:
        client = connection.handle
        everyone, authenticated, with_presence = room.names
        self._audiences.setdefault(everyone, set()).add(client)
        if connection.authenticated:
            self._audiences.setdefault(authenticated, set()).add(client)
        if presence:
            self._audiences.setdefault(with_presence, set()).add(client)
        else:
            self._remove(with_presence, client)

    def detach(self, connection: Connection, room: Room) -> None:
        for name in room.names:
            self._remove(name, connection.handle)

    def _remove(self, name: str, client: WebSocketClient) -> None:
        members = self._audiences.get(name)
        if members is not None:
            members.discard(client)
            if not members:
                del self._audiences[name]

    def deliver(self, room: Room, outgoing: Outgoing, audience: Audience) -> None:
        members = self._audiences.get(room.names[audience])
        if not members:
            return
        data = wire.text_frame(outgoing.text)
        for client in tuple(members):
            client.write(data)

    def send(self, connection: Connection, outgoing: Outgoing) -> None:
        connection.handle.write(wire.text_frame(outgoing.text))

    def close(
        self, connection: Connection, code: int, outgoing: Outgoing | None
    ) -> None:
        connection.handle.close(code, outgoing)


class WebSocketTransport:
    """Serve ``/rt/<connection hash>`` connections against the engine."""

    def __init__(
        self,
        engine: Engine,
        spawn: Callable[..., Any],
        sleep: Callable[[float], None],
        ping_interval: float,
    ) -> None:
        self.engine = engine
        self.sink = WebSocketSink()
        self.ping_interval = ping_interval
        # Every client being served, admitted or not: shutdown waits for them.
        self.clients: set[WebSocketClient] = set()
        self._spawn = spawn
        self._sleep = sleep

    def endpoint(self, connection_hash: str):
        """The Flask view: upgrade, then serve the connection until it ends."""
        environ = request.environ
        try:
            accept = wire.accept_key(environ)
            subprotocol = wire.offered_subprotocol(environ)
        except wire.HandshakeError as exc:
            return error_response(400, "bad_request", str(exc))
        sock = wire.raw_socket(environ)
        if sock is None:
            return error_response(
                501, "not_supported", "This server cannot hand over its sockets."
            )

        sock.sendall(wire.handshake_response(accept, subprotocol))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.serve(WebSocketClient(sock, self._spawn), connection_hash, subprotocol)
        return wire.HandledResponse()

    def serve(
        self, client: WebSocketClient, connection_hash: str, token: str | None
    ) -> None:
        """Admit the client, then read its frames until the connection ends."""
        self.clients.add(client)
        try:
            self._serve(client, connection_hash, token)
        finally:
            self.clients.discard(client)

    def _serve(
        self, client: WebSocketClient, connection_hash: str, token: str | None
    ) -> None:
        self.engine.start(self._spawn, self._sleep)
        try:
            connection = self.engine.connect(connection_hash, token, self.sink, client)
        except ClosingError as exc:
            if not isinstance(exc, InvalidAuthTokenError):
                logger.info("refused a WebSocket client: %s", exc.code)
            client.close(exc.close_code, Outgoing(exc.to_frame()))
            self._drain(client, FrameParser(ConnectionType.SERVER))
            return
        client.on_overflow = lambda: self.engine.close(connection, SlowConsumerError())
        try:
            self._read(client, connection)
        except Exception:
            logger.exception("WebSocket connection %s failed", connection.socket_id)
        finally:
            self.engine.disconnect(connection)
            client.abort()

    def _read(self, client: WebSocketClient, connection: Connection) -> None:
        parser = FrameParser(ConnectionType.SERVER)
        parts: list[str] = []
        size = 0
        while client.state is ClientState.OPEN:
            if not self._receive(client, parser):
                return
            for event in parser.events():
                if isinstance(event, TextMessage):
                    size += len(event.data)
                    cap = self.engine.frame_limit(connection) * FAR_OVER_FACTOR
                    if size <= cap:
                        parts.append(event.data)
                    if event.message_finished:
                        text = "".join(parts) if size <= cap else ""
                        self._dispatch(client, connection, text, size)
                        parts, size = [], 0
                elif isinstance(event, BytesMessage):
                    if event.message_finished:
                        error = InvalidFrameError("Frames are JSON text messages.")
                        client.write(wire.text_frame(Outgoing(error.to_frame()).text))
                elif isinstance(event, Ping):
                    client.write(wire.encode_frame(_PONG, bytes(event.payload)))
                elif isinstance(event, CloseConnection):
                    self._answer_close(client, event.code)
                    return
        self._drain(client, parser)

    def _receive(self, client: WebSocketClient, parser: FrameParser) -> bool:
        """Feed the parser with what arrives; False when the peer is gone."""
        client.sock.settimeout(self.ping_interval)
        while True:
            try:
                data = client.sock.recv(_RECEIVE_BYTES)
            except TimeoutError:
                if client.awaiting_pong:
                    logger.info("dropping a WebSocket client that stopped answering")
                    return False
                client.awaiting_pong = True
                client.write(wire.PING_FRAME)
                continue
            except OSError:
                return False
            if not data:
                return False
            client.awaiting_pong = False
            parser.receive_data(data)
            return True

    def _dispatch(
        self, client: WebSocketClient, connection: Connection, text: str, size: int
    ) -> None:
        # The size is passed only when the text was cut short for being far over.
        known_size = size if not text and size else None
        for outgoing in self.engine.receive(connection, text, known_size):
            client.write(wire.text_frame(outgoing.text))

    def _answer_close(self, client: WebSocketClient, code: int | None) -> None:
        if client.state is ClientState.OPEN:
            client.write(wire.close_frame(CLOSE_NORMAL if code is None else code))
            client.state = ClientState.CLOSING
            client.finish_sending()

    def _drain(self, client: WebSocketClient, parser: FrameParser) -> None:
        """Wait briefly for the client to acknowledge our close, then let go."""
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        try:
            client.sock.settimeout(CLOSE_WAIT_SECONDS)
            while time.monotonic() < deadline:
                data = client.sock.recv(_RECEIVE_BYTES)
                if not data:
                    return
                parser.receive_data(data)
                for event in parser.events():
                    if isinstance(event, CloseConnection):
                        return
        except Exception:
            # The peer vanished or sent garbage while we were closing anyway.
            return


def init_websocket(app: Flask, engine: Engine, spawn, sleep) -> WebSocketTransport:
    """Serve the plain WebSocket endpoint of ``engine`` at ``/rt/<hash>``."""
    transport = WebSocketTransport(
        engine, spawn, sleep, float(app.config["WS_PING_INTERVAL_SECONDS"])
    )
    app.add_url_rule(
        "/rt/<path:connection_hash>",
        endpoint="realtime_websocket",
        view_func=transport.endpoint,
        # Werkzeug routes upgrade requests only to rules that ask for them.
        websocket=True,
    )
    return transport
