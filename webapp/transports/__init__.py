"""Transports: thin adapters between the wire and the realtime core."""

from __future__ import annotations

from flask import Flask


def init_transports(app: Flask) -> None:
    """Build the realtime engine and attach the transports to ``app``."""
