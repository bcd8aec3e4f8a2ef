"""Entry point: patch the standard library, create the app, serve it."""

import os
import sys


def _async_mode() -> str:
    """Return ``ASYNC_MODE``; unset, gevent when gunicorn's gevent worker runs us."""
    chosen = os.environ.get("ASYNC_MODE", "").strip()
    if chosen:
        return chosen
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return "gevent"
    return "eventlet"


# Cooperative servers need the standard library patched before anything else
# imports it; otherwise sockets (Redis, the database) block the whole process.
_ASYNC_MODE = os.environ["ASYNC_MODE"] = _async_mode()
if _ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import gc  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.demo_data import ensure_demo_data  # noqa: E402
from webapp.extensions import socketio  # noqa: E402
from webapp.transports import handle_sigterm  # noqa: E402

# Connections one `python app.py` serves at once (eventlet's default is 1024),
# and connections the kernel queues before they are accepted (eventlet: 50).
MAX_CONNECTIONS = 10_000
LISTEN_BACKLOG = 2048
# Allocations between young garbage collections (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def _raise_open_file_limit() -> None:
    """Let the process open as many sockets as its hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _gevent_handler() -> type:
    """Return gevent's request handler, closing connections that were upgraded."""
    from gevent import pywsgi

    class UpgradeClosingHandler(pywsgi.WSGIHandler):
        def run_application(self) -> None:
            try:
                super().run_application()
            finally:
                # The WebSocket conversation owned the socket; no request follows.
                if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                    self.close_connection = True

    return UpgradeClosingHandler


def _werkzeug_handler() -> type:
    """Return Werkzeug's request handler, closing connections that were upgraded."""
    from werkzeug.serving import WSGIRequestHandler

    class UpgradeClosingHandler(WSGIRequestHandler):
        def connection_dropped(self, error: BaseException, environ=None) -> None:
            # WebSocket handlers end by raising ConnectionError so that nothing
            # more is written; nothing more must be read either.
            self.close_connection = True

    return UpgradeClosingHandler


def serve(host: str, port: int) -> None:
    """Serve the app with the async mode's own server until the process ends."""
    if _ASYNC_MODE == "eventlet":
        import eventlet.wsgi

        from webapp.transports.eventlet_http import LeanHttpProtocol

        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        listener = eventlet.listen(address, family, backlog=LISTEN_BACKLOG)
        # app.wsgi_app rather than app: Flask's __call__ only passes the
        # request on, and each connection's greenlet would keep its frame.
        eventlet.wsgi.server(
            listener,
            app.wsgi_app,
            log_output=False,
            max_size=MAX_CONNECTIONS,
            protocol=LeanHttpProtocol,
        )
    elif _ASYNC_MODE == "gevent":
        socketio.run(
            app,
            host=host,
            port=port,
            backlog=LISTEN_BACKLOG,
            handler_class=_gevent_handler(),
        )
    else:
        socketio.run(
            app,
            host=host,
            port=port,
            allow_unsafe_werkzeug=True,
            request_handler=_werkzeug_handler(),
        )


def _tune_garbage_collector() -> None:
    """Make the collector's pauses, which every client waits through, fewer.

    What exists once the app is up (modules, the app, its extensions) lives as
    long as the process: frozen, it is never walked again. A server makes
    objects by the thousand per millisecond, most gone within a few: with
    Python's default of a young collection every 700, frames queued for a
    moment outlive two collections and reach the old generation, whose full
    walks then run often and, with thousands of clients, take 100-200 ms.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


_raise_open_file_limit()
# Running this file directly is development: a generated secret key, demo data.
app = create_app({"DEVELOPMENT": __name__ == "__main__"})
# SIGTERM tells realtime clients to reconnect (1012) before the process ends.
handle_sigterm(app)

if __name__ == "__main__":
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
if app.config["DEMO_DATA"]:
    ensure_demo_data(app)
# The realtime engine listens to the other processes and keeps this one's
# liveness from the start, not from its first client.
app.extensions["realtime"].start(socketio.start_background_task, socketio.sleep)
_tune_garbage_collector()

if __name__ == "__main__":
    serve(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5000")))
