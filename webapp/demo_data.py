"""Placeholder: replaced by the demo data module."""

from __future__ import annotations

from flask import Flask


def ensure_demo_data(app: Flask) -> None:
    """Create the demo builder and workspace on an empty database."""
