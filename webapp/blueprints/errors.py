"""Error responses: JSON for API clients, a page for people."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db, login_manager

logger = logging.getLogger(__name__)

bp = Blueprint("errors", __name__)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """Return the JSON error body every API endpoint answers with."""
    return jsonify({"error": code, "message": message}), status


def wants_json() -> bool:
    """Tell whether the current request expects a JSON answer."""
    if request.path.startswith(("/api:", "/healthz")) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "invalid_input",
        429: "rate_limited",
        503: "unavailable",
    }.get(status, "error")


@bp.app_errorhandler(HTTPException)
def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    if wants_json():
        return error_response(status, _code_for(status), exc.description or exc.name)
    return render_template("errors/error.html", status=status, title=exc.name), status


@bp.app_errorhandler(OperationalError)
def handle_database_down(exc: OperationalError):
    # The database going away for a moment must not show a traceback.
    logger.error("database unavailable: %s", type(exc.orig).__name__)
    db.session.rollback()
    # The page must not ask the database who is logged in (Flask-Login keeps
    # the request's user in g._login_user and loads it only when absent).
    g._login_user = login_manager.anonymous_user()
    message = "The service is briefly unavailable. Please try again in a moment."
    if wants_json():
        return error_response(503, "unavailable", message)
    return (
        render_template(
            "errors/error.html", status=503, title="Unavailable", message=message
        ),
        503,
    )


@bp.app_errorhandler(Exception)
def handle_unexpected(exc: Exception):
    logger.exception("unhandled error on %s %s", request.method, request.path)
    message = "Something went wrong on our side."
    if wants_json():
        return error_response(500, "internal_error", message)
    return (
        render_template(
            "errors/error.html", status=500, title="Server error", message=message
        ),
        500,
    )
