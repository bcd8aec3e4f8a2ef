"""Placeholder: replaced by the Marvel chat demo blueprint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("demo", __name__)
