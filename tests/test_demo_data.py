"""Demo data: created once on an empty database, never on a used one."""

from __future__ import annotations

import logging

import pytest

from webapp.demo_data import DEFAULT_DEMO_PASSWORD, DEMO_EMAIL, ensure_demo_data
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace
from webapp.urls import api_group_base_url

LOGGER = "webapp.demo_data"


@pytest.fixture(autouse=True)
def _no_demo_password(monkeypatch) -> None:
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


def test_creates_the_demo_builder_workspace_and_channel_rule(app):
    ensure_demo_data(app)

    with app.app_context():
        builder = db.session.query(Builder).one()
        assert builder.email == DEMO_EMAIL
        assert builder.check_password(DEFAULT_DEMO_PASSWORD)
        [workspace] = builder.workspaces
        assert workspace.name == "Demo"
        assert (workspace.realtime_enabled, workspace.realtime_state) == (True, "ready")
        assert workspace.max_connections == app.config["DEFAULT_MAX_CONNECTIONS"]
        assert workspace.max_frame_bytes == app.config["DEFAULT_MAX_FRAME_BYTES"]
        [rule] = workspace.channel_rules
        assert (rule.name, rule.nested, rule.anonymous_allowed) == (
            "marvel-chat-room",
            False,
            True,
        )
        assert (rule.presence, rule.history_size) == (True, 100)
        assert (rule.publish, rule.direct, rule.receive) == ("any", "any", "everyone")


def test_logs_the_login_and_addresses_once(app, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        ensure_demo_data(app)
        ensure_demo_data(app)

    with app.app_context():
        workspace = db.session.query(Workspace).one()
        url = api_group_base_url(workspace)
        hash_ = workspace.connection_hash
    [record] = [r for r in caplog.records if r.name == LOGGER]
    message = record.getMessage()
    assert record.levelno == logging.INFO
    for expected in (DEMO_EMAIL, DEFAULT_DEMO_PASSWORD, url, hash_):
        assert expected in message
    assert url.startswith(app.config["PUBLIC_BASE_URL"])


def test_second_call_changes_nothing(app):
    ensure_demo_data(app)
    ensure_demo_data(app)

    with app.app_context():
        assert db.session.query(Builder).count() == 1
        assert db.session.query(Workspace).count() == 1
        assert db.session.query(ChannelRule).count() == 1


def test_password_from_the_environment_is_used_but_never_logged(
    app, caplog, monkeypatch
):
    monkeypatch.setenv("DEMO_PASSWORD", "operator-chosen-secret")

    with caplog.at_level(logging.INFO, logger=LOGGER):
        ensure_demo_data(app)

    with app.app_context():
        assert db.session.query(Builder).one().check_password("operator-chosen-secret")
    assert "operator-chosen-secret" not in caplog.text
    assert DEMO_EMAIL in caplog.text


def test_nothing_happens_when_a_builder_exists(app, caplog):
    with app.app_context():
        builder = Builder(email="owner@example.com", password_hash="!")
        db.session.add(builder)
        db.session.commit()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        ensure_demo_data(app)

    with app.app_context():
        assert db.session.query(Builder).count() == 1
        assert db.session.query(Workspace).count() == 0
    assert not [r for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def dead_redis(app_config) -> None:
    app_config["REDIS_URL"] = "redis://127.0.0.1:1/0"


def test_unreachable_backend_leaves_the_demo_workspace_in_error(dead_redis, app):
    ensure_demo_data(app)

    with app.app_context():
        workspace = db.session.query(Workspace).one()
        assert (workspace.realtime_enabled, workspace.realtime_state) == (True, "error")


def test_missing_tables_are_reported_and_skipped(app, caplog):
    with app.app_context():
        db.drop_all()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        ensure_demo_data(app)

    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    assert "tables do not exist" in record.getMessage()
