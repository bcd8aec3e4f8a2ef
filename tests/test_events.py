"""Server-side events: ``POST /api:<group key>/realtime/event`` with a server key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.harness import RecordingSink
from webapp import notify
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace


@dataclass
class Group:
    workspace_id: int
    url: str
    key: str
    connection_hash: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key if key is None else key}"}


def make_group(app, email: str = "events@example.com", **fields) -> Group:
    """Create a workspace with Realtime ready, channel rules and a server key."""
    fields = {"realtime_enabled": True, "realtime_state": "ready", **fields}
    with app.app_context():
        builder = Builder(email=email, password_hash="!")
        workspace = Workspace(owner=builder, name="Scores", **fields)
        workspace.channel_rules = [
            ChannelRule(name="scores", history_size=10),
            ChannelRule(name="live", history_size=0),
            ChannelRule(name="vip", receive="authenticated"),
        ]
        key = workspace.rotate_server_key()
        db.session.add(workspace)
        db.session.commit()
        return Group(
            workspace.id,
            f"/api:{workspace.api_group_key}/realtime/event",
            key,
            workspace.connection_hash,
        )


@pytest.fixture
def group(app) -> Group:
    return make_group(app)


def member(app, group: Group, channel: str) -> tuple[RecordingSink, object]:
    """Connect a client straight to the app's engine and join ``channel``."""
    engine = app.extensions["realtime"]
    sink = RecordingSink()
    connection = engine.connect(group.connection_hash, None, sink, None)
    engine.receive(connection, {"action": "join", "options": {"channel": channel}})
    return sink, connection


def test_event_is_delivered_and_returned_with_its_history_id(app, client, group):
    sink, connection = member(app, group, "scores")

    response = client.post(
        group.url,
        json={"channel": "scores", "data": {"home": 2}},
        headers=group.headers(),
    )

    assert response.status_code == 200
    assert response.json == {
        "action": "event",
        "options": {"channel": "scores", "id": 1},
        "client": None,
        "payload": {"data": {"home": 2}},
    }
    assert sink.take(connection) == [response.json]


def test_event_on_a_channel_without_history_has_no_id(client, group):
    response = client.post(
        group.url, json={"channel": "live", "data": None}, headers=group.headers()
    )
    assert response.status_code == 200
    assert response.json["options"] == {"channel": "live"}
    assert response.json["payload"] == {"data": None}


def test_event_data_may_be_left_out(client, group):
    response = client.post(group.url, json={"channel": "live"}, headers=group.headers())
    assert response.json["payload"] == {"data": None}


def test_event_is_kept_in_history(app, client, group):
    client.post(
        group.url, json={"channel": "scores", "data": 1}, headers=group.headers()
    )
    sink, connection = member(app, group, "scores")
    engine = app.extensions["realtime"]
    replies = engine.receive(
        connection, {"action": "history", "options": {"channel": "scores"}}
    )
    (entry,) = replies[0].frame["payload"]["history"]
    assert (entry["action"], entry["id"], entry["payload"]) == ("event", 1, {"data": 1})


@pytest.mark.parametrize("key", [None, "sk_wrong", ""])
def test_missing_or_wrong_key_is_401(client, group, key):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = client.post(group.url, json={"channel": "live"}, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_key"


def test_key_of_another_workspace_is_401(app, client, group):
    other = make_group(app, email="other@example.com")
    response = client.post(
        group.url, json={"channel": "live"}, headers=group.headers(other.key)
    )
    assert response.status_code == 401


def test_end_user_token_is_not_a_server_key(app, client, group):
    from webapp.tokens import issue_token

    token = issue_token(app.config["SECRET_KEY"], group.workspace_id, 1, "Ann", 60)
    response = client.post(
        group.url, json={"channel": "live"}, headers=group.headers(token)
    )
    assert response.status_code == 401


def test_unknown_group_is_404(client, group):
    response = client.post(
        "/api:nothing-here/realtime/event",
        json={"channel": "live"},
        headers=group.headers(),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', ""])
def test_body_that_is_not_a_json_object_is_400(client, group, body):
    response = client.post(
        group.url,
        data=body,
        headers={**group.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_json"


@pytest.mark.parametrize("channel", [None, "", "bad channel", 42, "x" * 256])
def test_invalid_channel_is_422(client, group, channel):
    response = client.post(
        group.url, json={"channel": channel, "data": 1}, headers=group.headers()
    )
    assert response.status_code == 422
    assert response.json["error"] == "invalid_channel"


def test_channel_without_a_rule_is_403(client, group):
    response = client.post(
        group.url, json={"channel": "elsewhere"}, headers=group.headers()
    )
    assert response.status_code == 403
    assert response.json["error"] == "channel_not_allowed"


@pytest.mark.parametrize(
    "fields",
    [
        {"realtime_enabled": False, "realtime_state": "off"},
        {"realtime_enabled": True, "realtime_state": "provisioning"},
    ],
)
def test_realtime_not_ready_is_409(app, client, fields):
    group = make_group(app, **fields)
    response = client.post(group.url, json={"channel": "live"}, headers=group.headers())
    assert response.status_code == 409
    assert response.json["error"] == "realtime_disabled"


def test_settings_changes_apply_to_the_next_event(app, client, group):
    sink, _ = member(app, group, "live")
    with app.app_context():
        workspace = db.session.get(Workspace, group.workspace_id)
        live = next(rule for rule in workspace.channel_rules if rule.name == "live")
        db.session.delete(live)
        db.session.commit()
        notify.workspace_changed(group.workspace_id)

    response = client.post(group.url, json={"channel": "live"}, headers=group.headers())

    assert response.status_code == 403


def test_unreachable_redis_is_503(app_config):
    from webapp import create_app

    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    with app.app_context():
        db.drop_all()
        db.create_all()
    group = make_group(app)
    response = app.test_client().post(
        group.url, json={"channel": "live"}, headers=group.headers()
    )
    assert response.status_code == 503
    assert response.json["error"] == "unavailable"
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
