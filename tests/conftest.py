"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

# One chromium and one live-server fixture for every module that asks.
from tests.browser import browser_fixture, browser_page_fixture  # noqa: F401
from tests.live import live_server  # noqa: F401
from tests.services import PG_ADMIN_URL, require_service
from webapp import create_app
from webapp.config import TEST_OVERRIDES
from webapp.extensions import db


def _postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=2).close()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """Create a database of our own on the local PostgreSQL for this run."""
    if not _postgres_reachable():
        yield None
        return
    import psycopg

    name = f"webapp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, postgres_url) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    require_service(postgres_url is not None, "PostgreSQL is not reachable")
    return postgres_url


@pytest.fixture
def app_config(database_url) -> dict:
    """Overrides for ``create_app``; tests may change them before ``app``."""
    return {**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": database_url}


@pytest.fixture
def app(app_config) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign up, log in and log out a builder through the real forms."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def signup(self, email: str = "ada@example.com", password: str = "correct horse"):
        return self._client.post(
            "/auth/signup",
            data={"email": email, "password": password, "confirm": password},
        )

    def login(self, email: str = "ada@example.com", password: str = "correct horse"):
        return self._client.post(
            "/auth/login", data={"email": email, "password": password}
        )

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


_skipped: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Where every service is required (CI), a skipped test fails the run."""
    if _skipped and os.environ.get("REQUIRE_SERVICES", "").lower() in ("1", "true"):
        print(f"\n{len(_skipped)} test(s) skipped where nothing may skip:")
        for nodeid in _skipped:
            print("  " + nodeid)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
