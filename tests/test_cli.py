"""Operators' ``flask`` commands: builders and workspaces."""

from __future__ import annotations

import json

import pytest

from webapp.extensions import db
from webapp.models import Builder, Workspace

PASSWORD = "correct horse"


def create_builder(runner, email: str = "ops@example.com"):
    return runner.invoke(args=["builder", "create", email, "--password", PASSWORD])


def test_builder_create_makes_a_builder_who_can_log_in(app, runner):
    result = create_builder(runner, "Ops@Example.com")

    assert result.exit_code == 0, result.output
    with app.app_context():
        builder = db.session.query(Builder).one()
        assert builder.email == "ops@example.com"
        assert builder.check_password(PASSWORD)


def test_builder_create_prompts_for_the_password_twice(app, runner):
    result = runner.invoke(
        args=["builder", "create", "ops@example.com"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.query(Builder).one().check_password(PASSWORD)


def test_builder_create_refuses_a_duplicate_email(runner):
    create_builder(runner)

    result = create_builder(runner, "OPS@example.com")

    assert result.exit_code != 0
    assert "ops@example.com exists" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ops@example.com", "--password", "short"], "at least 8 characters"),
        (["not-an-email", "--password", PASSWORD], "not a valid email"),
    ],
)
def test_builder_create_refuses_bad_input(app, runner, args, message):
    result = runner.invoke(args=["builder", "create", *args])

    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.query(Builder).count() == 0


def test_workspace_create_with_realtime_and_a_channel_rule(app, runner):
    create_builder(runner)

    result = runner.invoke(
        args=[
            "workspace",
            "create",
            "Shop",
            "--owner",
            "ops@example.com",
            "--realtime",
            "--channel",
            "room:*",
            "--nested",
            "--presence",
            "--history",
            "100",
            "--auth-only",
        ]
    )

    assert result.exit_code == 0, result.output
    with app.app_context():
        workspace = db.session.query(Workspace).one()
        assert workspace.realtime_enabled
        assert workspace.realtime_state == "ready"
        assert workspace.max_connections == app.config["DEFAULT_MAX_CONNECTIONS"]
        [rule] = workspace.channel_rules
        assert (rule.name, rule.nested, rule.presence) == ("room:*", True, True)
        assert (rule.history_size, rule.anonymous_allowed) == (100, False)
        server_key = result.output.split("Server API key:")[1].split()[0]
        assert workspace.has_server_key(server_key)
        assert workspace.connection_hash in result.output
        assert f"{app.config['PUBLIC_BASE_URL']}/api:" in result.output


@pytest.fixture
def dead_redis(app_config) -> None:
    app_config["REDIS_URL"] = "redis://127.0.0.1:1/0"


def test_workspace_create_records_an_unreachable_backend(dead_redis, app, runner):
    create_builder(runner)

    result = runner.invoke(
        args=["workspace", "create", "Shop", "--owner", "ops@example.com", "--realtime"]
    )

    assert result.exit_code == 0, result.output
    with app.app_context():
        workspace = db.session.query(Workspace).one()
        assert workspace.realtime_enabled
        assert workspace.realtime_state == "error"
        assert "Redis" in workspace.realtime_state_detail


def test_workspace_create_without_realtime_leaves_it_off(app, runner):
    create_builder(runner)

    result = runner.invoke(
        args=["workspace", "create", "Shop", "--owner", "ops@example.com"]
    )

    assert result.exit_code == 0, result.output
    with app.app_context():
        workspace = db.session.query(Workspace).one()
        assert (workspace.realtime_enabled, workspace.realtime_state) == (False, "off")
        assert workspace.channel_rules == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--channel", "room:*"], "--nested"),
        (["--channel", "room", "--nested"], "ends in '*'"),
        (["--channel", "ro*m:*", "--nested"], "ends in '*'"),
        (["--channel", "bad channel"], "letters, digits"),
        (["--presence"], "need --channel"),
        (["--channel", "room", "--history", "7"], "--history"),
    ],
)
def test_workspace_create_refuses_bad_channel_rules(app, runner, extra, message):
    create_builder(runner)

    result = runner.invoke(
        args=["workspace", "create", "Shop", "--owner", "ops@example.com", *extra]
    )

    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.query(Workspace).count() == 0


def test_workspace_create_refuses_an_unknown_owner(app, runner):
    result = runner.invoke(
        args=["workspace", "create", "Shop", "--owner", "nobody@example.com"]
    )

    assert result.exit_code != 0
    assert "No builder has the email nobody@example.com" in result.output


def test_workspace_list_json_has_the_documented_keys(app, runner):
    create_builder(runner)
    runner.invoke(args=["workspace", "create", "Shop", "--owner", "ops@example.com"])
    runner.invoke(
        args=["workspace", "create", "Blog", "--owner", "ops@example.com", "--realtime"]
    )

    result = runner.invoke(args=["workspace", "list", "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    with app.app_context():
        keys = [w.api_group_key for w in db.session.query(Workspace).order_by("id")]
    assert [set(row) for row in rows] == [
        {
            "id",
            "name",
            "owner",
            "realtime_enabled",
            "connection_hash",
            "api_group_base_url",
        }
    ] * 2
    assert [(r["name"], r["owner"], r["realtime_enabled"]) for r in rows] == [
        ("Shop", "ops@example.com", False),
        ("Blog", "ops@example.com", True),
    ]
    base = app.config["PUBLIC_BASE_URL"]
    assert [r["api_group_base_url"] for r in rows] == [f"{base}/api:{k}" for k in keys]


def test_workspace_list_prints_an_aligned_table(runner):
    create_builder(runner)
    runner.invoke(args=["workspace", "create", "Shop", "--owner", "ops@example.com"])
    runner.invoke(args=["workspace", "create", "A", "--owner", "ops@example.com"])

    result = runner.invoke(args=["workspace", "list"])

    header, rule, first, second = result.output.splitlines()
    assert header.split() == [
        "id",
        "name",
        "owner",
        "realtime_enabled",
        "connection_hash",
        "api_group_base_url",
    ]
    assert set(rule) == {"-", " "}
    assert first.index("ops@example.com") == second.index("ops@example.com")
    assert header.index("owner") == first.index("ops@example.com")


def test_workspace_list_says_when_there_are_none(runner):
    result = runner.invoke(args=["workspace", "list"])

    assert result.output.strip() == "No workspaces."
