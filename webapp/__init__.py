"""The realtime service's Flask application factory."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from webapp.config import load_config
from webapp.extensions import csrf, db, login_manager, migrate, socketio

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the application; ``config`` overrides what the environment says."""
    app = Flask(
        __name__,
        template_folder=str(_ROOT / "templates"),
        static_folder=str(_ROOT / "static"),
        instance_path=os.environ.get("INSTANCE_PATH") or str(_ROOT / "instance"),
    )
    overrides = dict(config or {})
    env = dict(os.environ)
    if "SECRET_KEY" in overrides:
        env["SECRET_KEY"] = overrides["SECRET_KEY"]
    app.config.update(
        load_config(
            app.instance_path,
            development=bool(overrides.get("DEVELOPMENT", False)),
            env=env,
        )
    )
    app.config.update(overrides)
    if not app.config["SESSION_COOKIE_SAMESITE"]:
        # Flask's own default is None, which setdefault would have kept.
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    _configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)

    from webapp import cli, security

    cli.register(app)
    security.init_app(app)

    return app


def _configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_webapp", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handler._webapp = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    # Socket.IO's per-packet loggers are only wanted when debugging frames.
    for name in ("socketio", "engineio", "werkzeug"):
        logging.getLogger(name).setLevel(
            logging.DEBUG if app.config["LOG_LEVEL"] == "DEBUG" else logging.WARNING
        )


def _init_extensions(app: Flask) -> None:
    from webapp.backends import create_backend

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    socketio.init_app(
        app,
        async_mode=app.config["ASYNC_MODE"],
        message_queue=None,
        logger=False,
        engineio_logger=False,
        # A refused realtime client must get its error frame before the
        # disconnect, and one client's frames must run in the order sent.
        always_connect=True,
        # Builders' apps connect from their own origins; realtime clients
        # authenticate with the connection hash and a token, never a cookie.
        cors_allowed_origins="*",
        async_handlers=False,
    )
    app.extensions["realtime_backend"] = create_backend(app.config["REDIS_URL"])
    logger.info("realtime backend: %s", app.extensions["realtime_backend"].describe())


def _register_blueprints(app: Flask) -> None:
    from webapp.blueprints import api, auth, dashboard, demo, errors, health
    from webapp.transports import init_transports

    app.register_blueprint(errors.bp)
    app.register_blueprint(auth.bp, url_prefix="/auth")
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(demo.bp, url_prefix="/demo")
    init_transports(app)
    csrf.exempt(api.bp)
    csrf.exempt(health.bp)
