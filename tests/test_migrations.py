"""Migrations build the schema from empty on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tests.services import PG_ADMIN_URL, require_service
from webapp import create_app
from webapp.config import TEST_OVERRIDES
from webapp.extensions import db


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path, postgres_url):
    """An empty database of its own for each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    require_service(postgres_url is not None, "PostgreSQL is not reachable")
    import psycopg

    name = f"webapp_mig_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _app(url: str):
    return create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": url})


def test_upgrade_from_empty_creates_every_table(empty_database_url):
    app = _app(empty_database_url)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()

    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_match_the_models(empty_database_url):
    app = _app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, db.metadata)
        db.engine.dispose()

    assert differences == []


def test_downgrade_to_base_removes_the_tables(empty_database_url):
    app = _app(empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()

    assert tables <= {"alembic_version"}
