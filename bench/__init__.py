"""Benchmarks: our realtime server against the floor of its stack."""

from __future__ import annotations
