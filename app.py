"""Entry point: patch the standard library, create the app, serve it."""

import os

# Cooperative servers need the standard library patched before anything else
# imports it; otherwise sockets (Redis, the database) block the whole process.
_ASYNC_MODE = os.environ.get("ASYNC_MODE", "eventlet").strip() or "eventlet"
if _ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

from webapp import create_app  # noqa: E402
from webapp.demo_data import ensure_demo_data  # noqa: E402
from webapp.extensions import socketio  # noqa: E402

# Running this file directly is development: a generated secret key, demo data.
app = create_app({"DEVELOPMENT": __name__ == "__main__"})

if __name__ == "__main__":
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
if app.config["DEMO_DATA"]:
    ensure_demo_data(app)

if __name__ == "__main__":
    socketio.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        allow_unsafe_werkzeug=True,
    )
