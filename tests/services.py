"""Services some tests need: skipped where missing, unless CI demands them."""

from __future__ import annotations

import os

import pytest

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_service(available: bool, reason: str) -> None:
    """Skip the test when a service is missing, or fail where CI demands it."""
    if available:
        return
    if os.environ.get("REQUIRE_SERVICES", "").lower() in ("1", "true"):
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)
