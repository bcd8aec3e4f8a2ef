"""The per-workspace API group: end users sign up, log in and read who they are.

Every route lives under ``/api:<group key>``, the base URL the hosted service's
JavaScript SDK is given. Answers are JSON only, and browsers on any origin may
call them: auth tokens travel in the ``Authorization`` header, never a cookie.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask_cors import CORS
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.blueprints.errors import error_response
from webapp.extensions import db
from webapp.models import (
    PASSWORD_MIN_LENGTH,
    EndUser,
    Workspace,
    burn_password_check,
)
from webapp.throttle import get_throttle
from webapp.tokens import InvalidTokenError, issue_token, verify_token

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

_GROUP_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NAME_LENGTH = 80
MAX_EMAIL_LENGTH = 254
# Long enough for any passphrase, short enough that hashing stays cheap.
MAX_PASSWORD_LENGTH = 1024

FieldCheck = Callable[[Any], Any]


class ApiError(Exception):
    """A refused API request, answered as ``{"error": code, "message": ...}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@bp.errorhandler(ApiError)
def _handle_api_error(exc: ApiError):
    logger.info(
        "api request refused: %s %s (%s)", request.endpoint, exc.status, exc.code
    )
    response, status = error_response(exc.status, exc.code, exc.message)
    response.headers.update(exc.headers)
    return response, status


def _enable_cors(state: BlueprintSetupState) -> None:
    # Only the API group is open to other origins; the dashboard keeps the
    # browser's same-origin protection.
    CORS(
        state.app,
        resources={re.compile(r"/api:"): {}},
        origins="*",
        send_wildcard=True,
        allow_headers=["Content-Type", "Authorization"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
    )


bp.record_once(_enable_cors)


# Resolving the request.


def workspace_for(group_key: str) -> Workspace:
    """Return the workspace whose API group key is ``group_key``.

    :raises ApiError: 404 when no workspace has that key.
    """
    workspace = None
    # Keys are URL-safe tokens; anything else (a NUL byte, say) never reaches SQL.
    if _GROUP_KEY_RE.fullmatch(group_key):
        workspace = db.session.scalar(
            select(Workspace).filter_by(api_group_key=group_key)
        )
    if workspace is None:
        raise ApiError(404, "not_found", "No API group has this address.")
    return workspace


def bearer_token() -> str | None:
    """Return the token of the ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def authenticated_end_user(workspace: Workspace) -> EndUser:
    """Return the end user the request's bearer token names.

    The signature, expiry and workspace are checked without a database read;
    only a valid token loads the end user.

    :raises ApiError: 401 when the token is missing, invalid, expired, of
        another workspace, or names an end user who no longer exists.
    """
    token = bearer_token()
    claims = None
    if token is not None:
        try:
            claims = verify_token(current_app.config["SECRET_KEY"], token, workspace.id)
        except InvalidTokenError:
            claims = None

    end_user = db.session.get(EndUser, claims.end_user_id) if claims else None
    if end_user is None or end_user.workspace_id != workspace.id:
        raise ApiError(
            401,
            "invalid_token",
            "A valid auth token is required (Authorization: Bearer <auth token>).",
            {"WWW-Authenticate": "Bearer"},
        )
    return end_user


def json_body(fields: Mapping[str, FieldCheck]) -> dict[str, Any]:
    """Return the request's JSON object with each field checked and cleaned.

    ``fields`` maps a field name to a check that returns the cleaned value or
    raises ``ValueError`` with the reason; fields are checked in order and
    the first problem is reported. Other keys of the body are ignored.

    :raises ApiError: 400 when the body is not a JSON object, 422 naming the
        first field that is missing or wrong.
    """
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        # Nesting deep enough to exhaust the decoder is no JSON we accept.
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")

    cleaned = {}
    for name, check in fields.items():
        if name not in body:
            raise ApiError(422, "invalid_input", f"{name}: this field is required.")
        try:
            cleaned[name] = check(body[name])
        except ValueError as exc:
            raise ApiError(422, "invalid_input", f"{name}: {exc}") from None
    return cleaned


# Field checks: return the cleaned value or raise ValueError with the reason.


def _text(value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string.")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters long.")
    # Neither databases nor password hashing accept NUL or lone surrogates.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not allowed.") from None
    if "\x00" in value:
        raise ValueError("contains characters that are not allowed.")
    return value


def end_user_name(value: object) -> str:
    """Check a display name: 1 to 80 characters, no control characters."""
    name = _text(value, MAX_NAME_LENGTH * 4).strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be 1 to {MAX_NAME_LENGTH} characters long.")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValueError("contains characters that are not allowed.")
    return name


def end_user_email(value: object) -> str:
    """Check an email address and return it normalized (lower case)."""
    email = _text(value, MAX_EMAIL_LENGTH * 4).strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters long.")
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("is not a valid email address.") from None
    return result.normalized.lower()


def new_password(value: object) -> str:
    """Check a password chosen at signup."""
    password = _text(value, MAX_PASSWORD_LENGTH)
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"must be at least {PASSWORD_MIN_LENGTH} characters long.")
    return password


def _login_password(value: object) -> str:
    return _text(value, MAX_PASSWORD_LENGTH)


def _login_email(value: object) -> str | None:
    # An address no signup could have stored matches no end user, so a
    # malformed one fails like any unknown address.
    if not isinstance(value, str):
        raise ValueError("must be a string.")
    try:
        return end_user_email(value)
    except ValueError:
        return None


# Routes.


@bp.post("/api:<group_key>/auth/signup")
def signup(group_key: str):
    """Create an end user of the workspace and return an auth token."""
    workspace = workspace_for(group_key)
    fields = json_body(
        {"name": end_user_name, "email": end_user_email, "password": new_password}
    )

    end_user = EndUser(workspace=workspace, name=fields["name"], email=fields["email"])
    end_user.set_password(fields["password"])
    db.session.add(end_user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(
            409, "email_taken", "An account with this email already exists."
        ) from None

    logger.info(
        "end user signed up: workspace=%s end_user=%s", workspace.id, end_user.id
    )
    return jsonify({"authToken": _token_for(end_user)})


@bp.post("/api:<group_key>/auth/login")
def login(group_key: str):
    """Return an auth token for an end user's email and password."""
    workspace = workspace_for(group_key)
    fields = json_body({"email": _login_email, "password": _login_password})
    throttle = get_throttle()
    # One workspace's end users are throttled apart from another's.
    caller = f"api:{workspace.id}:{request.remote_addr or 'unknown'}"
    wait = throttle.retry_after(caller)
    if wait:
        logger.info("end user login throttled: workspace=%s", workspace.id)
        raise ApiError(
            429,
            "rate_limited",
            f"Too many failed logins; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    end_user = None
    if fields["email"] is not None:
        end_user = db.session.scalar(
            select(EndUser).filter_by(workspace_id=workspace.id, email=fields["email"])
        )
    if end_user is None:
        # Hash anyway, so an unknown address takes as long as a wrong password.
        burn_password_check(fields["password"])
    if end_user is None or not end_user.check_password(fields["password"]):
        logger.info("end user login refused: workspace=%s", workspace.id)
        throttle.record_failure(caller)
        raise ApiError(401, "invalid_credentials", "Wrong email or password.")

    throttle.reset(caller)
    logger.info(
        "end user logged in: workspace=%s end_user=%s", workspace.id, end_user.id
    )
    return jsonify({"authToken": _token_for(end_user)})


@bp.get("/api:<group_key>/auth/me")
def me(group_key: str):
    """Return the public fields of the end user the bearer token names."""
    workspace = workspace_for(group_key)
    return jsonify(authenticated_end_user(workspace).to_public())


def _token_for(end_user: EndUser) -> str:
    config = current_app.config
    return issue_token(
        config["SECRET_KEY"],
        end_user.workspace_id,
        end_user.id,
        end_user.name,
        config["AUTH_TOKEN_TTL_SECONDS"],
    )


# Server-side events: the builder's backend publishes to a channel.

_EVENT_ERROR_STATUS = {
    "invalid_channel": 422,
    "channel_not_allowed": 403,
    "realtime_disabled": 409,
}


@bp.post("/api:<group_key>/realtime/event")
def realtime_event(group_key: str):
    """Send an ``event`` frame to a channel; answer with the frame as delivered.

    Authenticated by the workspace's server API key, never an end user's token.
    """
    from webapp.realtime.codec import frame_text
    from webapp.realtime.errors import InvalidFrameError, RealtimeError

    workspace = workspace_for(group_key)
    key = bearer_token()
    if key is None or not workspace.has_server_key(key):
        raise ApiError(
            401,
            "invalid_key",
            "A server API key is required (Authorization: Bearer <server API key>).",
            {"WWW-Authenticate": "Bearer"},
        )
    json_body({})
    body = request.get_json(force=True, silent=True)
    data = body.get("data")
    try:
        # What clients could not read (NaN, lone surrogates, deep nesting)
        # must not reach them, as from a client's own frame.
        frame_text(data)
    except InvalidFrameError as exc:
        raise ApiError(422, "invalid_input", f"data: {exc.message}") from None

    engine = current_app.extensions["realtime"]
    try:
        frame = engine.publish_event(workspace.id, body.get("channel"), data)
    except RealtimeError as exc:
        status = _EVENT_ERROR_STATUS.get(exc.code, 503)
        raise ApiError(status, exc.code, exc.message) from None
    logger.info(
        "event published: workspace=%s channel=%s",
        workspace.id,
        frame["options"]["channel"],
    )
    return jsonify(frame)
