"""The builder's dashboard: workspaces, Realtime Settings, keys, limits, CSRF."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from tests.services import REDIS_TEST_URL, require_service
from tests.workspaces import (
    RealtimeClients,
    last_error_code,
    load_workspace,
    log_in_new_builder,
    make_workspace,
    page_text,
    ready_workspace_with_rule,
    send_frame,
    update_workspace,
)
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace
from webapp.provisioning import provision_now, start_provisioning

SERVER_KEY_RE = re.compile(r"sk_[A-Za-z0-9_\-]{20,}")
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
# Upper bound on status polls while a background task provisions a workspace.
MAX_POLLS = 400


def wait_until_settled(client, workspace_id: int) -> dict:
    """Poll the status endpoint until the workspace leaves "provisioning"."""
    url = f"/workspaces/{workspace_id}/realtime/status"
    for _ in range(MAX_POLLS):
        status = client.get(url).get_json()
        if status["state"] != "provisioning":
            return status
        time.sleep(0.025)
    pytest.fail(f"workspace still provisioning after {MAX_POLLS} polls")


class _PageParser(HTMLParser):
    """Collect a page's POST forms (with their hidden fields) and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.scripts: list[dict] = []
        self.inline_attributes = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs or any(name.startswith("on") for name in attrs):
            self.inline_attributes += 1
        if tag == "form" and attrs.get("method", "").lower() == "post":
            self.forms.append({"action": attrs.get("action"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("type") == "hidden":
            self.forms[-1]["fields"][attrs.get("name")] = attrs.get("value")
        elif tag == "script":
            self.scripts.append(attrs)


def parse_page(response) -> _PageParser:
    parser = _PageParser()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.fixture
def realtime_clients(app):
    clients = RealtimeClients(app)
    yield clients
    clients.close()


@pytest.fixture
def builder_id(app, client) -> int:
    return log_in_new_builder(app, client, "ada@example.com")


@pytest.fixture
def workspace_id(app, builder_id) -> int:
    return make_workspace(app, builder_id)


@pytest.fixture
def other_workspace(app) -> tuple[int, int]:
    """Another builder's workspace id and the id of one of its channel rules."""
    with app.app_context():
        other = Builder(email="grace@example.com", password_hash="not-a-password-hash")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    workspace_id = make_workspace(app, other_id, "Not yours")
    with app.app_context():
        rule = ChannelRule(workspace_id=workspace_id, name="secret")
        db.session.add(rule)
        db.session.commit()
        return workspace_id, rule.id


# -- access -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", "/workspaces/1", "/workspaces/1/realtime", "/workspaces/1/realtime/status"],
)
def test_anonymous_visitor_is_sent_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


OTHER_BUILDER_URLS = [
    ("get", "/workspaces/{ws}"),
    ("post", "/workspaces/{ws}/rename"),
    ("post", "/workspaces/{ws}/delete"),
    ("get", "/workspaces/{ws}/realtime"),
    ("post", "/workspaces/{ws}/realtime"),
    ("get", "/workspaces/{ws}/realtime/status"),
    ("post", "/workspaces/{ws}/realtime/hash"),
    ("post", "/workspaces/{ws}/server-key"),
    ("post", "/workspaces/{ws}/realtime/limits"),
    ("post", "/workspaces/{ws}/realtime/rules"),
    ("get", "/workspaces/{ws}/realtime/rules/{rule}"),
    ("post", "/workspaces/{ws}/realtime/rules/{rule}"),
    ("post", "/workspaces/{ws}/realtime/rules/{rule}/delete"),
]


@pytest.mark.parametrize(("method", "url"), OTHER_BUILDER_URLS)
def test_other_builders_workspace_is_not_found(
    app, client, builder_id, other_workspace, method, url
):
    other_id, rule_id = other_workspace
    data = {
        "name": "Mine now",
        "confirm_name": "Not yours",
        "enabled": "yes",
        "hash-confirm": "y",
        "key-confirm": "y",
    }

    response = getattr(client, method)(
        url.format(ws=other_id, rule=rule_id), data=data if method == "post" else None
    )

    assert response.status_code == 404
    workspace = load_workspace(app, other_id)
    assert workspace.name == "Not yours"
    assert workspace.realtime_state == "off"


# -- workspaces -------------------------------------------------------------


def test_index_lists_only_own_workspaces_with_state(
    app, client, builder_id, other_workspace
):
    make_workspace(app, builder_id, "Avengers", realtime_state="ready")

    text = page_text(client.get("/"))

    assert "Avengers" in text
    assert 'data-realtime-state="ready"' in text
    assert "Not yours" not in text


def test_create_workspace_shows_server_key_once(app, client, builder_id):
    response = client.post("/workspaces", data={"name": "  Avengers  "})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = page_text(response)
    assert "will not be shown again" in text
    server_key = SERVER_KEY_RE.search(text).group()
    with app.app_context():
        workspace = db.session.scalar(
            db.select(Workspace).where(Workspace.owner_id == builder_id)
        )
        assert workspace.name == "Avengers"
        assert workspace.has_server_key(server_key)
        assert workspace.server_key_hint == server_key[-4:]
        workspace_id = workspace.id

    realtime_page = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))
    assert server_key not in realtime_page
    assert SERVER_KEY_RE.search(realtime_page) is None
    assert server_key[-4:] in realtime_page


def test_create_workspace_uses_configured_default_limits(app, client, builder_id):
    app.config.update(
        DEFAULT_MAX_CONNECTIONS=7,
        DEFAULT_MAX_FRAME_BYTES=4096,
        DEFAULT_FRAMES_PER_SECOND=3,
        DEFAULT_IDLE_TIMEOUT_SECONDS=60,
    )

    client.post("/workspaces", data={"name": "Limited"})

    with app.app_context():
        workspace = db.session.scalar(db.select(Workspace))
        assert (
            workspace.max_connections,
            workspace.max_frame_bytes,
            workspace.frames_per_second,
            workspace.idle_timeout_seconds,
        ) == (7, 4096, 3, 60)
        assert workspace.realtime_state == "off"
        assert not workspace.realtime_enabled


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the workspace a name."),
        ("    ", "Give the workspace a name."),
        ("x" * 81, "A workspace name has at most 80 characters."),
    ],
)
def test_create_workspace_rejects_bad_name(app, client, builder_id, name, message):
    response = client.post("/workspaces", data={"name": name})

    assert response.status_code == 200
    assert message in page_text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Workspace.id))) == 0


def test_rename_workspace(app, client, workspace_id):
    response = client.post(
        f"/workspaces/{workspace_id}/rename", data={"name": " X-Men "}
    )

    assert response.status_code == 302
    assert load_workspace(app, workspace_id).name == "X-Men"


@pytest.mark.parametrize("name", ["", "x" * 81])
def test_rename_workspace_rejects_bad_name(app, client, workspace_id, name):
    response = client.post(f"/workspaces/{workspace_id}/rename", data={"name": name})

    assert response.status_code == 200
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert load_workspace(app, workspace_id).name == "Marvel"


@pytest.mark.parametrize("typed", ["", "marvel"])
def test_delete_workspace_needs_its_name_typed(app, client, workspace_id, typed):
    response = client.post(
        f"/workspaces/{workspace_id}/delete", data={"confirm_name": typed}
    )

    assert response.status_code == 200
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert load_workspace(app, workspace_id) is not None


def test_delete_workspace_removes_it_and_its_rules(app, client, workspace_id):
    with app.app_context():
        db.session.add(ChannelRule(workspace_id=workspace_id, name="room"))
        db.session.commit()

    response = client.post(
        f"/workspaces/{workspace_id}/delete", data={"confirm_name": "Marvel"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert load_workspace(app, workspace_id) is None
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ChannelRule.id))) == 0
    assert client.get(f"/workspaces/{workspace_id}").status_code == 404


# -- Realtime switch and provisioning ---------------------------------------


def test_enabling_realtime_provisions_in_background_until_ready(
    app, client, workspace_id
):
    response = client.post(
        f"/workspaces/{workspace_id}/realtime", data={"enabled": "yes"}
    )

    assert response.status_code == 302
    assert load_workspace(app, workspace_id).realtime_state in ("provisioning", "ready")
    assert wait_until_settled(client, workspace_id) == {
        "enabled": True,
        "state": "ready",
        "detail": "",
    }
    page = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))
    assert 'data-realtime-state="ready"' in page


def test_provision_now_marks_a_provisioning_workspace_ready(app, workspace_id):
    update_workspace(
        app, workspace_id, realtime_enabled=True, realtime_state="provisioning"
    )

    with app.app_context():
        state = provision_now(db.session.get(Workspace, workspace_id))

    assert state == "ready"
    workspace = load_workspace(app, workspace_id)
    assert (workspace.realtime_state, workspace.realtime_state_detail) == ("ready", "")
    assert workspace.settings_version == 2


def test_start_provisioning_runs_as_a_background_task(app, workspace_id):
    update_workspace(
        app, workspace_id, realtime_enabled=True, realtime_state="provisioning"
    )

    start_provisioning(app, workspace_id).join()

    assert load_workspace(app, workspace_id).realtime_state == "ready"


def test_provision_now_leaves_a_switched_off_workspace_alone(app, workspace_id):
    with app.app_context():
        state = provision_now(db.session.get(Workspace, workspace_id))

    assert state == "off"
    assert load_workspace(app, workspace_id).settings_version == 1


@pytest.fixture
def dead_redis(app_config) -> None:
    app_config["REDIS_URL"] = DEAD_REDIS_URL


@pytest.mark.usefixtures("dead_redis")
def test_provision_now_records_error_when_redis_is_unreachable(app, workspace_id):
    update_workspace(
        app, workspace_id, realtime_enabled=True, realtime_state="provisioning"
    )

    with app.app_context():
        state = provision_now(db.session.get(Workspace, workspace_id))

    assert state == "error"
    assert (
        "Redis is not reachable"
        in load_workspace(app, workspace_id).realtime_state_detail
    )


@pytest.mark.usefixtures("dead_redis")
def test_enabling_realtime_with_unreachable_redis_ends_in_error(
    app, client, workspace_id
):
    client.post(f"/workspaces/{workspace_id}/realtime", data={"enabled": "yes"})

    status = wait_until_settled(client, workspace_id)

    assert status["state"] == "error"
    assert status["enabled"] is True
    assert "Redis is not reachable" in status["detail"]
    page = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))
    assert 'data-realtime-state="error"' in page
    assert "Redis is not reachable" in page


def test_enabling_realtime_with_real_redis_ends_ready(app_config, request):
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    require_service(reachable, "Redis is not reachable")
    app_config["REDIS_URL"] = REDIS_TEST_URL
    client = request.getfixturevalue("client")
    workspace_id = request.getfixturevalue("workspace_id")

    client.post(f"/workspaces/{workspace_id}/realtime", data={"enabled": "yes"})

    assert wait_until_settled(client, workspace_id)["state"] == "ready"


def test_saving_yes_again_retries_after_an_error(app, client, workspace_id):
    update_workspace(
        app,
        workspace_id,
        realtime_enabled=True,
        realtime_state="error",
        realtime_state_detail="Redis is not reachable: ConnectionError",
    )

    client.post(f"/workspaces/{workspace_id}/realtime", data={"enabled": "yes"})

    assert wait_until_settled(client, workspace_id) == {
        "enabled": True,
        "state": "ready",
        "detail": "",
    }


def test_disabling_realtime_turns_it_off(app, client, workspace_id):
    update_workspace(app, workspace_id, realtime_enabled=True, realtime_state="ready")

    response = client.post(
        f"/workspaces/{workspace_id}/realtime", data={"enabled": "no"}
    )

    assert response.status_code == 302
    workspace = load_workspace(app, workspace_id)
    assert (workspace.realtime_enabled, workspace.realtime_state) == (False, "off")
    assert workspace.settings_version == 2
    status = client.get(f"/workspaces/{workspace_id}/realtime/status").get_json()
    assert status == {"enabled": False, "state": "off", "detail": ""}


def test_realtime_switch_rejects_unknown_choice(app, client, workspace_id):
    response = client.post(
        f"/workspaces/{workspace_id}/realtime", data={"enabled": "maybe"}
    )

    assert response.status_code == 200
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert load_workspace(app, workspace_id).realtime_state == "off"


def test_realtime_page_shows_provisioning_state_without_javascript(
    app, client, workspace_id
):
    update_workspace(
        app, workspace_id, realtime_enabled=True, realtime_state="provisioning"
    )

    text = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))

    assert 'data-realtime-state="provisioning"' in text
    assert "Reload the page to see the result." in text
    assert f'data-status-url="/workspaces/{workspace_id}/realtime/status"' in text


# -- connection hash, server key, limits --------------------------------------


def test_realtime_page_shows_connection_details_with_copy_buttons(
    app, client, workspace_id
):
    workspace = load_workspace(app, workspace_id)

    response = client.get(f"/workspaces/{workspace_id}/realtime")

    text = page_text(response)
    api_url = f"http://localhost/api:{workspace.api_group_key}"
    assert f'<code id="connection-hash">{workspace.connection_hash}</code>' in text
    assert f'<code id="api-url">{api_url}</code>' in text
    assert 'data-copy-target="connection-hash"' in text
    assert 'data-copy-target="api-url"' in text
    assert "Open the Marvel chat demo" in text
    demo_link = urlsplit(re.search(r'href="(/demo/[^"]*)"', text).group(1))
    assert demo_link.path == "/demo/"
    assert parse_qs(demo_link.query) == {
        "api": [api_url],
        "hash": [workspace.connection_hash],
    }


def test_regenerate_connection_hash_needs_confirmation(app, client, workspace_id):
    before = load_workspace(app, workspace_id).connection_hash

    response = client.post(f"/workspaces/{workspace_id}/realtime/hash", data={})

    assert response.status_code == 200
    assert "Tick the box to confirm." in page_text(response)
    assert load_workspace(app, workspace_id).connection_hash == before


def test_regenerate_connection_hash_replaces_it(app, client, workspace_id):
    before = load_workspace(app, workspace_id).connection_hash

    response = client.post(
        f"/workspaces/{workspace_id}/realtime/hash", data={"hash-confirm": "y"}
    )

    assert response.status_code == 302
    workspace = load_workspace(app, workspace_id)
    assert workspace.connection_hash != before
    assert workspace.settings_version == 2
    assert workspace.connection_hash in page_text(
        client.get(f"/workspaces/{workspace_id}/realtime")
    )


def test_rotating_server_key_shows_new_key_once_and_invalidates_old(
    app, client, builder_id
):
    created = page_text(client.post("/workspaces", data={"name": "Keys"}))
    old_key = SERVER_KEY_RE.search(created).group()
    with app.app_context():
        workspace_id = db.session.scalar(db.select(Workspace.id))

    response = client.post(
        f"/workspaces/{workspace_id}/server-key", data={"key-confirm": "y"}
    )

    assert response.headers["Cache-Control"] == "no-store"
    new_key = SERVER_KEY_RE.search(page_text(response)).group()
    assert new_key != old_key
    workspace = load_workspace(app, workspace_id)
    assert workspace.has_server_key(new_key)
    assert not workspace.has_server_key(old_key)
    assert new_key not in page_text(client.get(f"/workspaces/{workspace_id}/realtime"))


def test_rotating_server_key_needs_confirmation(app, client, workspace_id):
    before = load_workspace(app, workspace_id).server_key_digest

    response = client.post(f"/workspaces/{workspace_id}/server-key", data={})

    assert response.status_code == 200
    assert SERVER_KEY_RE.search(page_text(response)) is None
    assert load_workspace(app, workspace_id).server_key_digest == before


LIMITS = {
    "max_connections": "50",
    "max_frame_bytes": "2048",
    "frames_per_second": "5",
    "idle_timeout_seconds": "120",
}


def test_save_limits(app, client, workspace_id):
    response = client.post(f"/workspaces/{workspace_id}/realtime/limits", data=LIMITS)

    assert response.status_code == 302
    workspace = load_workspace(app, workspace_id)
    assert (
        workspace.max_connections,
        workspace.max_frame_bytes,
        workspace.frames_per_second,
        workspace.idle_timeout_seconds,
    ) == (50, 2048, 5, 120)
    assert workspace.settings_version == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_connections", "0", "Max connections must be a whole number from 1"),
        ("max_connections", "100001", "Max connections must be a whole number"),
        ("max_connections", "", "Max connections must be a whole number"),
        ("max_connections", "ten", "Not a valid integer value."),
        ("max_frame_bytes", "255", "Max frame size (bytes) must be a whole number"),
        ("frames_per_second", "1001", "Frames per second per client must be"),
        ("idle_timeout_seconds", "9", "Idle timeout (seconds) must be"),
        ("idle_timeout_seconds", "1.5", "Not a valid integer value."),
    ],
)
def test_save_limits_rejects_out_of_range(
    app, client, workspace_id, field, value, message
):
    response = client.post(
        f"/workspaces/{workspace_id}/realtime/limits", data={**LIMITS, field: value}
    )

    assert response.status_code == 200
    assert message in page_text(response)
    workspace = load_workspace(app, workspace_id)
    assert workspace.max_connections == 1000
    assert workspace.settings_version == 1


# -- connected now, notifications ---------------------------------------------


def test_connected_now_counts_the_workspace_clients(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))
    send_frame(sio, "join", "room", {"presence": True})

    text = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))

    assert "Clients connected: <strong>1</strong>" in text
    assert "<td><code>room</code></td><td>1</td>" in text


def test_connected_now_without_realtime_server(app, client, workspace_id):
    app.extensions.pop("realtime")

    text = page_text(client.get(f"/workspaces/{workspace_id}/realtime"))

    assert "Realtime server not running in this process" in text


@pytest.mark.usefixtures("dead_redis")
def test_realtime_page_shows_when_redis_is_unreachable(client, workspace_id):
    response = client.get(f"/workspaces/{workspace_id}/realtime")

    assert response.status_code == 200
    assert "Clients connected: <strong>0</strong>" in page_text(response)


def test_switching_realtime_off_disconnects_clients(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))

    client.post(f"/workspaces/{workspace_id}/realtime", data={"enabled": "no"})

    assert not sio.is_connected("/rt")
    assert last_error_code(sio) == "realtime_disabled"


def test_regenerating_hash_disconnects_clients_of_the_old_one(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))

    client.post(f"/workspaces/{workspace_id}/realtime/hash", data={"hash-confirm": "y"})

    assert not sio.is_connected("/rt")
    new_hash = load_workspace(app, workspace_id).connection_hash
    assert realtime_clients.connect(new_hash).is_connected("/rt")


def test_deleting_workspace_disconnects_clients(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))

    client.post(f"/workspaces/{workspace_id}/delete", data={"confirm_name": "Marvel"})

    assert not sio.is_connected("/rt")


def test_new_limits_apply_to_connected_clients(
    app, client, workspace_id, realtime_clients
):
    sio = realtime_clients.connect(ready_workspace_with_rule(app, workspace_id))
    send_frame(sio, "join", "room", {})
    message = "x" * 400
    assert send_frame(sio, "message", "room", message)[0]["action"] == "message"

    client.post(
        f"/workspaces/{workspace_id}/realtime/limits",
        data={**LIMITS, "max_frame_bytes": "256"},
    )

    frames = send_frame(sio, "message", "room", message)
    assert [frame["payload"]["code"] for frame in frames] == ["payload_too_large"]


CHANGES = [
    ("/workspaces/{ws}/realtime", {"enabled": "no"}),
    ("/workspaces/{ws}/realtime/hash", {"hash-confirm": "y"}),
    ("/workspaces/{ws}/realtime/limits", LIMITS),
    ("/workspaces/{ws}/realtime/rules", {"name": "lobby", "publish": "any"}),
    ("/workspaces/{ws}/realtime/rules/{rule}", {"name": "room", "publish": "off"}),
    ("/workspaces/{ws}/realtime/rules/{rule}/delete", {}),
]


@pytest.mark.parametrize(("url", "data"), CHANGES)
def test_changes_clients_must_notice_bump_settings_version(
    app, client, workspace_id, url, data
):
    ready_workspace_with_rule(app, workspace_id)
    with app.app_context():
        rule_id = db.session.scalar(db.select(ChannelRule.id))

    response = client.post(url.format(ws=workspace_id, rule=rule_id), data=data)

    assert response.status_code == 302
    assert load_workspace(app, workspace_id).settings_version == 2


def test_renaming_leaves_settings_version_alone(app, client, workspace_id):
    client.post(f"/workspaces/{workspace_id}/rename", data={"name": "New"})

    assert load_workspace(app, workspace_id).settings_version == 1


# -- CSRF and page hygiene ----------------------------------------------------


@pytest.fixture
def csrf_enabled(app_config) -> None:
    app_config["WTF_CSRF_ENABLED"] = True


FORM_URLS = [
    "/workspaces",
    "/workspaces/{ws}/rename",
    "/workspaces/{ws}/delete",
    "/workspaces/{ws}/realtime",
    "/workspaces/{ws}/realtime/hash",
    "/workspaces/{ws}/server-key",
    "/workspaces/{ws}/realtime/limits",
    "/workspaces/{ws}/realtime/rules",
    "/workspaces/{ws}/realtime/rules/{rule}",
    "/workspaces/{ws}/realtime/rules/{rule}/delete",
]


@pytest.mark.parametrize("url", FORM_URLS)
def test_post_without_csrf_token_is_refused(
    csrf_enabled, app, client, workspace_id, url
):
    with app.app_context():
        rule = ChannelRule(workspace_id=workspace_id, name="room")
        db.session.add(rule)
        db.session.commit()
        rule_id = rule.id
    data = {
        "name": "Changed",
        "confirm_name": "Marvel",
        "enabled": "yes",
        "hash-confirm": "y",
        "key-confirm": "y",
        **LIMITS,
    }

    response = client.post(url.format(ws=workspace_id, rule=rule_id), data=data)

    assert response.status_code == 400
    workspace = load_workspace(app, workspace_id)
    assert workspace.name == "Marvel"
    assert workspace.settings_version == 1


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/workspaces/{ws}",
        "/workspaces/{ws}/realtime",
        "/workspaces/{ws}/realtime/rules/{rule}",
    ],
)
def test_pages_carry_csrf_tokens_and_no_inline_code(
    csrf_enabled, app, client, workspace_id, url
):
    with app.app_context():
        rule = ChannelRule(workspace_id=workspace_id, name="room")
        db.session.add(rule)
        db.session.commit()
        rule_id = rule.id

    page = parse_page(client.get(url.format(ws=workspace_id, rule=rule_id)))

    assert page.forms
    for form in page.forms:
        tokens = [name for name in form["fields"] if name.endswith("csrf_token")]
        assert tokens, form["action"]
    assert all(script.get("src") for script in page.scripts)
    assert page.inline_attributes == 0


def test_form_with_csrf_token_is_accepted(csrf_enabled, app, client, workspace_id):
    page = parse_page(client.get(f"/workspaces/{workspace_id}"))
    rename = next(form for form in page.forms if form["action"].endswith("/rename"))

    response = client.post(
        rename["action"], data={**rename["fields"], "name": "Renamed"}
    )

    assert response.status_code == 302
    assert load_workspace(app, workspace_id).name == "Renamed"


@pytest.mark.parametrize("url", ["/", "/workspaces/{ws}", "/workspaces/{ws}/realtime"])
def test_dashboard_pages_load_the_dashboard_script(client, workspace_id, url):
    page = parse_page(client.get(url.format(ws=workspace_id)))

    assert page.scripts == [{"src": "/static/js/dashboard.js"}]


def test_dashboard_script_is_served(client):
    response = client.get("/static/js/dashboard.js")

    assert response.status_code == 200
    assert b"navigator.clipboard" in response.data
    response.close()
