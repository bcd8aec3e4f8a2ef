"""Channel rules in the Realtime Settings panel: add, edit, delete, validation."""

from __future__ import annotations

import pytest

from tests.workspaces import (
    RealtimeClients,
    load_workspace,
    log_in_new_builder,
    make_workspace,
    page_text,
    ready_workspace_with_rule,
    send_frame,
)
from webapp.extensions import db
from webapp.models import ChannelRule

RULE = {
    "name": "marvel-chat-room",
    "anonymous_allowed": "y",
    "presence": "y",
    "history_size": "25",
    "publish": "any",
    "direct": "authenticated",
    "receive": "everyone",
}


def stored_rules(app, workspace_id: int) -> dict[str, dict]:
    """Return the workspace's channel rules by name, as plain values."""
    with app.app_context():
        rules = db.session.scalars(
            db.select(ChannelRule).where(ChannelRule.workspace_id == workspace_id)
        )
        return {
            rule.name: {
                "nested": rule.nested,
                "anonymous_allowed": rule.anonymous_allowed,
                "presence": rule.presence,
                "history_size": rule.history_size,
                "publish": rule.publish,
                "direct": rule.direct,
                "receive": rule.receive,
            }
            for rule in rules
        }


def add_rule(app, workspace_id: int, name: str, **values) -> int:
    with app.app_context():
        rule = ChannelRule(workspace_id=workspace_id, name=name, **values)
        db.session.add(rule)
        db.session.commit()
        return rule.id


@pytest.fixture
def workspace_id(app, client) -> int:
    return make_workspace(app, log_in_new_builder(app, client, "ada@example.com"))


@pytest.fixture
def realtime_clients(app):
    clients = RealtimeClients(app)
    yield clients
    clients.close()


def rules_url(workspace_id: int, rule_id: int | None = None, action: str = "") -> str:
    url = f"/workspaces/{workspace_id}/realtime/rules"
    if rule_id is not None:
        url += f"/{rule_id}"
    return url + (f"/{action}" if action else "")


def test_add_rule(app, client, workspace_id):
    response = client.post(rules_url(workspace_id), data=RULE)

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/realtime#channel-rules")
    assert stored_rules(app, workspace_id) == {
        "marvel-chat-room": {
            "nested": False,
            "anonymous_allowed": True,
            "presence": True,
            "history_size": 25,
            "publish": "any",
            "direct": "authenticated",
            "receive": "everyone",
        }
    }
    assert load_workspace(app, workspace_id).settings_version == 2


def test_rules_table_lists_rules_and_explains_precedence(app, client, workspace_id):
    add_rule(app, workspace_id, "room:*", nested=True, anonymous_allowed=False)
    add_rule(app, workspace_id, "lobby", history_size=0, publish="off")

    text = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))

    assert "<td><code>room:*</code></td>" in text
    assert "<td><code>lobby</code></td>" in text
    assert "Authenticated clients only" in text
    assert "the most specific one applies" in text
    assert "an exact name first, then the longest prefix" in text


def test_unticked_auth_switch_means_authenticated_clients_only(
    app, client, workspace_id
):
    data = {key: value for key, value in RULE.items() if key != "anonymous_allowed"}

    client.post(rules_url(workspace_id), data=data)

    assert not stored_rules(app, workspace_id)["marvel-chat-room"]["anonymous_allowed"]


@pytest.mark.parametrize("name", ["room:*", "*", "users/42/*"])
def test_nested_rule_ends_with_a_single_star(app, client, workspace_id, name):
    response = client.post(
        rules_url(workspace_id), data={**RULE, "name": name, "nested": "y"}
    )

    assert response.status_code == 302
    assert stored_rules(app, workspace_id)[name]["nested"] is True


def test_overlapping_rules_are_allowed(app, client, workspace_id):
    for name, nested in [("room:*", "y"), ("room:vip:*", "y"), ("room:lobby", "")]:
        data = {**RULE, "name": name, "nested": nested}
        assert client.post(rules_url(workspace_id), data=data).status_code == 302

    assert set(stored_rules(app, workspace_id)) == {
        "room:*",
        "room:vip:*",
        "room:lobby",
    }


@pytest.mark.parametrize(
    ("name", "nested", "message"),
    [
        ("", "", "A channel name is required."),
        ("   ", "", "A channel name is required."),
        ("a" * 256, "", "A channel name has at most 255 characters."),
        ("marvel chat", "", "may use only letters, digits"),
        ("room<script>", "", "may use only letters, digits"),
        # Cyrillic "а" (U+0430) looks like a Latin "a".
        ("m\u0430rvel-chat-room", "", "may use only letters, digits"),
        ("room:*", "", "Only a rule allowing nested channels may use *"),
        ("room:", "y", "must end with * (for example room:*)"),
        ("room:*:messages", "y", "must end with * (for example room:*)"),
        ("room:*:*", "y", "Only the last character of the name may be *."),
    ],
)
def test_add_rule_rejects_bad_name(app, client, workspace_id, name, nested, message):
    response = client.post(
        rules_url(workspace_id), data={**RULE, "name": name, "nested": nested}
    )

    assert response.status_code == 200
    assert message in page_text(response)
    assert stored_rules(app, workspace_id) == {}
    assert load_workspace(app, workspace_id).settings_version == 1


def test_add_rule_rejects_duplicate_name(app, client, workspace_id):
    add_rule(app, workspace_id, "marvel-chat-room", publish="off")

    response = client.post(rules_url(workspace_id), data=RULE)

    assert response.status_code == 200
    assert "already has a channel rule with that name" in page_text(response)
    assert stored_rules(app, workspace_id)["marvel-chat-room"]["publish"] == "off"


def test_same_rule_name_in_two_workspaces_is_fine(app, client, workspace_id):
    with app.app_context():
        owner_id = load_workspace(app, workspace_id).owner_id
    second_id = make_workspace(app, owner_id, "Second")
    add_rule(app, workspace_id, "marvel-chat-room")

    response = client.post(rules_url(second_id), data=RULE)

    assert response.status_code == 302
    assert set(stored_rules(app, second_id)) == {"marvel-chat-room"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("history_size", "7"), ("publish", "everyone"), ("direct", "x"), ("receive", "")],
)
def test_add_rule_rejects_unknown_choice(app, client, workspace_id, field, value):
    response = client.post(rules_url(workspace_id), data={**RULE, field: value})

    assert response.status_code == 200
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert stored_rules(app, workspace_id) == {}


def test_edit_page_shows_the_rule(app, client, workspace_id):
    rule_id = add_rule(app, workspace_id, "room:*", nested=True, presence=True)

    response = client.get(rules_url(workspace_id, rule_id))

    text = page_text(response)
    assert response.status_code == 200
    assert 'value="room:*"' in text
    assert 'id="nested" name="nested" type="checkbox" value="y"' in text


def test_edit_rule(app, client, workspace_id):
    rule_id = add_rule(app, workspace_id, "room")

    response = client.post(
        rules_url(workspace_id, rule_id),
        data={
            "name": "room:*",
            "nested": "y",
            "history_size": "100",
            "publish": "authenticated",
            "direct": "any",
            "receive": "authenticated",
        },
    )

    assert response.status_code == 302
    assert stored_rules(app, workspace_id) == {
        "room:*": {
            "nested": True,
            "anonymous_allowed": False,
            "presence": False,
            "history_size": 100,
            "publish": "authenticated",
            "direct": "any",
            "receive": "authenticated",
        }
    }
    assert load_workspace(app, workspace_id).settings_version == 2


def test_edit_rule_keeping_its_name(app, client, workspace_id):
    rule_id = add_rule(app, workspace_id, "marvel-chat-room")

    response = client.post(rules_url(workspace_id, rule_id), data=RULE)

    assert response.status_code == 302
    assert stored_rules(app, workspace_id)["marvel-chat-room"]["history_size"] == 25


@pytest.mark.parametrize(
    ("name", "nested", "message"),
    [
        ("lobby", "", "already has a channel rule with that name"),
        ("room*", "", "Only a rule allowing nested channels may use *"),
        ("room", "y", "must end with *"),
    ],
)
def test_edit_rule_rejects_bad_name(app, client, workspace_id, name, nested, message):
    rule_id = add_rule(app, workspace_id, "room")
    add_rule(app, workspace_id, "lobby")

    response = client.post(
        rules_url(workspace_id, rule_id), data={**RULE, "name": name, "nested": nested}
    )

    assert response.status_code == 200
    assert message in page_text(response)
    assert set(stored_rules(app, workspace_id)) == {"room", "lobby"}


def test_delete_rule(app, client, workspace_id):
    rule_id = add_rule(app, workspace_id, "room")
    add_rule(app, workspace_id, "lobby")

    response = client.post(rules_url(workspace_id, rule_id, "delete"))

    assert response.status_code == 302
    assert set(stored_rules(app, workspace_id)) == {"lobby"}
    assert load_workspace(app, workspace_id).settings_version == 2


@pytest.mark.parametrize(("method", "action"), [("get", ""), ("post", "delete")])
def test_rule_of_another_own_workspace_is_not_found(
    app, client, workspace_id, method, action
):
    with app.app_context():
        owner_id = load_workspace(app, workspace_id).owner_id
    other_id = make_workspace(app, owner_id, "Second")
    rule_id = add_rule(app, other_id, "room")

    response = getattr(client, method)(rules_url(workspace_id, rule_id, action))

    assert response.status_code == 404
    assert set(stored_rules(app, other_id)) == {"room"}


def test_added_rule_lets_connected_clients_join_at_once(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))
    refused = send_frame(sio, "join", "lobby", {})
    assert refused[0]["payload"]["code"] == "channel_not_allowed"

    client.post(rules_url(workspace_id), data={**RULE, "name": "lobby"})

    assert send_frame(sio, "join", "lobby", {})[0]["action"] == "join"


def test_rule_made_authenticated_only_removes_anonymous_members(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))
    send_frame(sio, "join", "room", {})
    with app.app_context():
        rule_id = db.session.scalar(db.select(ChannelRule.id))

    client.post(
        rules_url(workspace_id, rule_id),
        data={key: value for key, value in RULE.items() if key != "anonymous_allowed"}
        | {"name": "room"},
    )

    frames = [event["args"][0] for event in sio.get_received("/rt")]
    assert [frame["payload"]["code"] for frame in frames] == ["auth_required"]
    assert send_frame(sio, "message", "room", "hi")[0]["payload"]["code"] == (
        "not_joined"
    )


def test_deleted_rule_removes_its_members(app, client, workspace_id, realtime_clients):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))
    send_frame(sio, "join", "room", {})
    with app.app_context():
        rule_id = db.session.scalar(db.select(ChannelRule.id))

    client.post(rules_url(workspace_id, rule_id, "delete"))

    frames = [event["args"][0] for event in sio.get_received("/rt")]
    assert [frame["payload"]["code"] for frame in frames] == ["channel_not_allowed"]
    assert frames[0]["options"] == {"channel": "room"}
