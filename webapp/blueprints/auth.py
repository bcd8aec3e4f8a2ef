"""Builders' sign-up, log-in and log-out for the dashboard."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db, login_manager
from webapp.forms.auth import LoginForm, SignupForm
from webapp.models import Builder, burn_password_check
from webapp.throttle import get_throttle

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

DUPLICATE_EMAIL = "An account with this email already exists."
BAD_CREDENTIALS = "Invalid email or password."


@login_manager.user_loader
def load_builder(builder_id: str) -> Builder | None:
    """Return the builder a session or remember cookie names, if it still exists."""
    try:
        return db.session.get(Builder, int(builder_id))
    except ValueError:
        return None


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, otherwise None."""
    if not target or not target.startswith("/"):
        return None
    # Browsers read "/\" like "//", and drop tabs and newlines from URLs, so
    # "/\t/evil.example" would also leave the site.
    if target.startswith(("//", "/\\")) or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _check_credentials(email: str, password: str) -> Builder | None:
    builder = db.session.scalar(select(Builder).where(Builder.email == email))
    if builder is None:
        # Hash anyway, so an unknown email takes as long as a wrong password.
        burn_password_check(password)
        return None
    return builder if builder.check_password(password) else None


def _wait_message(seconds: int) -> str:
    if seconds < 60:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = -(-seconds // 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"Too many failed log-ins. Try again in {wait}."


def _start_session(builder: Builder, remember: bool = False) -> None:
    # A fresh session on every log-in, so values planted before it (a fixed
    # session) do not survive into the logged-in one.
    session.clear()
    login_user(builder, remember=remember)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create a builder account and log it in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))

    form = SignupForm()
    if not form.validate_on_submit():
        return render_template("auth/signup.html", form=form)

    builder = _create_builder(form.email.data, form.password.data)
    if builder is None:
        form.email.errors.append(DUPLICATE_EMAIL)
        return render_template("auth/signup.html", form=form)

    _start_session(builder)
    logger.info("builder %s signed up", builder.id)
    flash("Welcome! Your account is ready.", "success")
    return redirect(url_for("dashboard.index"))


def _create_builder(email: str, password: str) -> Builder | None:
    """Store a new builder, or return None if the email is taken."""
    if db.session.scalar(select(Builder.id).where(Builder.email == email)):
        logger.info("sign-up refused: email taken")
        return None

    builder = Builder(email=email)
    builder.set_password(password)
    db.session.add(builder)
    try:
        db.session.commit()
    except IntegrityError:
        # Another sign-up with the same email won the race since the check.
        db.session.rollback()
        logger.info("sign-up refused: email taken")
        return None
    return builder


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log a builder in, within the failed log-in throttle."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("dashboard.index"))

    form = LoginForm()
    # Limitation: behind a reverse proxy every client has the proxy's address
    # (unless ProxyFix is set up), so one client's failures lock out everyone.
    address = request.remote_addr or "unknown"
    throttle = get_throttle()
    if request.method == "POST":
        wait = throttle.retry_after(address)
        if wait:
            logger.info("log-in refused from %s: locked out for %ss", address, wait)
            return _render_login(form, next_url, _wait_message(wait), 429, wait)
    if not form.validate_on_submit():
        return _render_login(form, next_url)

    builder = _check_credentials(form.email.data, form.password.data)
    if builder is None:
        logger.info("failed log-in from %s", address)
        if throttle.record_failure(address):
            logger.info("log-ins from %s locked out", address)
        return _render_login(form, next_url, BAD_CREDENTIALS)

    throttle.reset(address)
    _start_session(builder, remember=form.remember.data)
    logger.info("builder %s logged in from %s", builder.id, address)
    return redirect(next_url or url_for("dashboard.index"))


def _render_login(
    form: LoginForm,
    next_url: str | None,
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
):
    body = render_template("auth/login.html", form=form, next=next_url, error=error)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return body, status, headers


@bp.post("/logout")
def logout():
    """Log the builder out and forget everything the session held."""
    if current_user.is_authenticated:
        logger.info("builder %s logged out", current_user.id)
    # Cleared before logout_user, which leaves the mark that deletes the
    # remember cookie in the session.
    session.clear()
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
