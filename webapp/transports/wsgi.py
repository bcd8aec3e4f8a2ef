"""The WSGI entry point: Socket.IO requests to the Socket.IO server, the rest to Flask.

It replaces Flask-SocketIO's middleware, which does the same with two costs
that last as long as a Socket.IO connection (its request never ends): it
copies each request's environ (the server keeps the original too), and it is
an object called by Flask's own ``__call__``, two C-level calls that every
waiting connection's greenlet keeps on its saved stack. This one adds
``flask.app`` to the environ in place, and becomes ``app.wsgi_app`` as a
bound method, which Python calls without a C-level call of its own: a
server given ``app.wsgi_app`` itself (as ``app.py`` does under eventlet)
skips Flask's ``__call__`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import socketio
from flask import Flask
from flask_socketio import SocketIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _GunicornInput:
    """The socket of a gunicorn request where eventlet's WebSocket looks for it."""

    def __init__(self, sock: Any) -> None:
        self.socket = sock

    def get_socket(self) -> Any:
        return self.socket


class RealtimeWSGI:
    """Route ``/socket.io/`` to the Socket.IO server, anything else to ``wsgi_app``.

    ``wsgi_app`` is an attribute, as in Flask-SocketIO's middleware, so that
    ``SocketIO.run(debug=True)`` can wrap it in Werkzeug's debugger.
    """

    def __init__(
        self,
        flask_app: Flask,
        server: socketio.Server,
        wsgi_app: WSGIApp,
        path: str = "socket.io",
    ) -> None:
        self.flask_app = flask_app
        self.server = server
        self.wsgi_app = wsgi_app
        self.path = "/" + path.strip("/") + "/"

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request."""
        # Flask-SocketIO's own event handlers find the app here.
        environ["flask.app"] = self.flask_app
        path = environ.get("PATH_INFO")
        if path is not None and path.startswith(self.path):
            if "gunicorn.socket" in environ:
                # eventlet's WebSocket reads the socket from eventlet.input.
                environ["eventlet.input"] = _GunicornInput(environ["gunicorn.socket"])
            return self.server.handle_request(environ, start_response)
        return self.wsgi_app(environ, start_response)


def install_wsgi(app: Flask, extension: SocketIO) -> RealtimeWSGI:
    """Put :class:`RealtimeWSGI` where ``init_app`` put Flask-SocketIO's middleware.

    Limitation: it reads Flask-SocketIO's ``sockio_mw`` (its middleware, with
    the Flask app it wraps and its path), which a new version may rename; the
    RuntimeError below then says so at startup.

    :raises RuntimeError: when ``extension.init_app(app)`` has not run.
    """
    previous = getattr(extension, "sockio_mw", None)
    if previous is None or app.wsgi_app is not previous:
        raise RuntimeError("install_wsgi needs socketio.init_app(app) first")
    entry = RealtimeWSGI(
        app,
        extension.server,
        previous.wsgi_app,
        path=previous.engineio_path,
    )
    # A bound method: Flask.__call__ then calls it without a C-level call.
    app.wsgi_app = entry.__call__
    # SocketIO.run(debug=True) wraps sockio_mw.wsgi_app in the debugger.
    extension.sockio_mw = entry
    return entry
