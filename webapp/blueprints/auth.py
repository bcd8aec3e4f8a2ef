"""Placeholder: replaced by the real blueprint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)


@bp.route("/login")
def login():
    return ""


@bp.route("/signup")
def signup():
    return ""


@bp.route("/logout", methods=["POST"])
def logout():
    return ""
