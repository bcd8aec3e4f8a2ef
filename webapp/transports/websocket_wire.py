"""WebSocket plumbing below the protocol: the upgrade handshake and raw frames.

The plain WebSocket transport takes the connection's socket from the WSGI
server and speaks RFC 6455 on it itself, so that a broadcast can be framed
once and the same bytes written to every member. Incoming frames are parsed
by wsproto; outgoing ones are built here because they are simple (a server
never masks) and must be shareable.
"""

from __future__ import annotations

import _socket
import base64
import hashlib
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Response

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
# RFC 6455 token characters, which a subprotocol must be made of.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class HandshakeError(ValueError):
    """The request is not a WebSocket upgrade we can accept."""


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """Return one unmasked, final frame: what a server sends."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def text_frame(text: str) -> bytes:
    """Return a text frame carrying ``text``."""
    return encode_frame(OPCODE_TEXT, text.encode("utf-8"))


def close_frame(code: int, reason: str = "") -> bytes:
    """Return a close frame with ``code`` and a short reason."""
    return encode_frame(
        OPCODE_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120]
    )


PING_FRAME = encode_frame(OPCODE_PING, b"")


def offered_subprotocol(environ: Mapping[str, Any]) -> str | None:
    """Return the first subprotocol the client offered, which carries its token.

    :raises HandshakeError: when it is not a valid token (the browser would
        refuse the handshake answer anyway).
    """
    header = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
    first = header.split(",", 1)[0].strip()
    if not first:
        return None
    if len(first) > 4096 or not set(first) <= _TOKEN_CHARS:
        raise HandshakeError("The subprotocol is not a valid token.")
    return first


def accept_key(environ: Mapping[str, Any]) -> str:
    """Check the upgrade request and return its ``Sec-WebSocket-Accept`` value.

    :raises HandshakeError: for anything but a version 13 WebSocket upgrade.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        raise HandshakeError("A WebSocket upgrade must be a GET request.")
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        raise HandshakeError("This endpoint speaks WebSocket only.")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "") != "13":
        raise HandshakeError("Only WebSocket version 13 is supported.")
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise HandshakeError("The Sec-WebSocket-Key header is invalid.") from None
    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(accept: str, subprotocol: str | None) -> bytes:
    """Return the ``101 Switching Protocols`` answer, selecting ``subprotocol``."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept}",
    ]
    if subprotocol is not None:
        # Browsers drop the connection unless the offered protocol comes back.
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_socket(environ: Mapping[str, Any]) -> Any | None:
    """Return the client's socket from the WSGI server's environ, if it tells."""
    if "eventlet.input" in environ:
        return environ["eventlet.input"].get_socket()
    if "gunicorn.socket" in environ:
        return environ["gunicorn.socket"]
    if "werkzeug.socket" in environ:
        return environ["werkzeug.socket"]
    if environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
        wsgi_input = environ["wsgi.input"]
        stream = getattr(wsgi_input, "rfile", wsgi_input)
        raw = getattr(stream, "raw", None)
        return getattr(raw, "_sock", None)
    return None


def nonblocking_twin(sock: Any) -> _socket.socket | None:
    """Return the non-blocking OS socket under a green socket, if there is one.

    Writing to it never waits, so a broadcast can hand bytes to every member
    without switching tasks; what does not fit is queued by the caller.
    eventlet keeps it as ``fd``, gevent as ``_sock``; a plain blocking socket
    (threading mode) has none.
    """
    for attribute in ("fd", "_sock"):
        inner = getattr(sock, attribute, None)
        # The C base class: gevent's inner socket is not a socket.socket.
        if isinstance(inner, _socket.socket) and inner.gettimeout() == 0.0:
            return inner
    return None


class HandledResponse(Response):
    """What the view returns once it has spoken WebSocket on the socket itself.

    The WSGI server must write nothing more on that socket and must not read
    another request from it; each server is told so in its own way.
    """

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        if "eventlet.input" in environ:
            from eventlet.wsgi import WSGI_LOCAL

            WSGI_LOCAL.already_handled = True
            return []
        if "gunicorn.socket" in environ:
            # Every gunicorn worker closes the connection on StopIteration.
            raise StopIteration()
        if "werkzeug.socket" in environ:
            # Werkzeug treats it as a client that went away: nothing written.
            raise ConnectionError()
        # gevent's pywsgi writes nothing for an application that never called
        # start_response; app.py's handler then closes the connection.
        return []
