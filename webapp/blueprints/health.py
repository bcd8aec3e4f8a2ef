"""The health check an orchestrator or load balancer polls."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.backends import BackendUnavailableError
from webapp.extensions import db

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the database and the realtime backend are usable.

    With a backend shared by several processes, ``realtime_bus`` tells whether
    this process hears the others: one that does not would leave its clients
    out of what is published elsewhere, so it answers 503 until it does.
    """
    checks = {"database": "ok", "realtime_backend": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"unavailable: {type(exc).__name__}"
    backend = current_app.extensions["realtime_backend"]
    try:
        backend.check()
    except BackendUnavailableError as exc:
        checks["realtime_backend"] = f"unavailable: {exc}"
    listening = backend.listening()
    if listening is not None:
        checks["realtime_bus"] = (
            "ok" if listening else "unavailable: not subscribed to the Redis bus"
        )

    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return jsonify(body), 200 if healthy else 503
