"""Operators' ``flask`` commands."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the command groups on ``app``."""
