"""The web side under attack: CSRF, cookies, headers, redirects and absurd input.

Every state-changing form of the app (found by walking its URL map) refuses a
post without a CSRF token; cookies are HttpOnly, SameSite and, when asked,
Secure; every page forbids framing; ``next`` never leaves the site; every
JSON endpoint answers broken bodies with a 4xx JSON error and every form
answers absurd values with a form error, never a 500 (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from werkzeug.security import generate_password_hash

from tests.workspaces import load_workspace, log_in_new_builder, make_workspace
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, EndUser, Workspace
from webapp.tokens import issue_token

EMAIL = "ada@example.com"
PASSWORD = "correct horse"
# Endpoints that take no browser form: the API group (auth tokens, CORS) and
# the health check. Everything else that changes state needs a CSRF token.
CSRF_EXEMPT_BLUEPRINTS = ("api", "health")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture
def csrf_enabled(app_config) -> None:
    app_config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def builder_id(app, client) -> int:
    return log_in_new_builder(app, client, EMAIL)


@pytest.fixture
def workspace_id(app, builder_id) -> int:
    return make_workspace(app, builder_id)


@pytest.fixture
def rule_id(app, workspace_id) -> int:
    with app.app_context():
        rule = ChannelRule(workspace_id=workspace_id, name="room")
        db.session.add(rule)
        db.session.commit()
        return rule.id


@pytest.fixture
def builder_with_password(app) -> None:
    """A builder who logs in through the form."""
    # A cheap hash: these tests log in often, and hashing strength is not tested.
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with app.app_context():
        db.session.add(Builder(email=EMAIL, password_hash=password_hash))
        db.session.commit()


def _form_routes(app) -> list[tuple[str, str]]:
    """Return (method, rule) for every state-changing route outside the exempt."""
    routes = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if rule.endpoint == "static" or blueprint in CSRF_EXEMPT_BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) - SAFE_METHODS):
            routes.append((method, rule.rule))
    return routes


def _csrf_token(client, path: str) -> str:
    page = client.get(path).text
    field = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)[0]
    return re.search(r'value="([^"]+)"', field)[1]


# CSRF.


def test_every_state_changing_route_refuses_a_post_without_csrf_token(
    csrf_enabled, app, client, workspace_id, rule_id
):
    routes = _form_routes(app)
    values = {"workspace_id": workspace_id, "rule_id": rule_id}
    data = {"name": "Changed", "confirm_name": "Marvel", "enabled": "yes"}

    refused = []
    for method, rule in routes:
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), rule)
        response = client.open(url, method=method, data=data)
        assert response.status_code == 400, (method, url)
        refused.append(url)

    # The walk found the forms: sign-up, log-in, log-out and the dashboard's.
    assert {"/auth/signup", "/auth/login", "/auth/logout", "/workspaces"} <= set(
        refused
    )
    assert len(refused) >= 12
    workspace = load_workspace(app, workspace_id)
    assert (workspace.name, workspace.settings_version) == ("Marvel", 1)
    assert client.get("/").status_code == 200


def test_api_and_health_need_no_csrf_token(csrf_enabled, app, client):
    with app.app_context():
        workspace = Workspace(
            owner=Builder(email="api@example.com", password_hash="!"), name="Api"
        )
        db.session.add(workspace)
        db.session.commit()
        group = f"/api:{workspace.api_group_key}"

    signup = client.post(
        f"{group}/auth/signup",
        json={"name": "Ann", "email": "ann@example.com", "password": PASSWORD},
    )

    assert signup.status_code == 200
    assert client.get("/healthz").status_code == 200


def test_login_gives_a_fresh_session_and_csrf_token(
    csrf_enabled, client, builder_with_password
):
    token = _csrf_token(client, "/auth/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
        raw_before = session["csrf_token"]

    response = client.post(
        "/auth/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    client.get("/")

    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "_user_id" in session
        assert session["csrf_token"] != raw_before


# Cookies and headers.


def _set_cookies(response) -> dict[str, str]:
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookies[header.partition("=")[0]] = header
    return cookies


def _log_in_remembered(client):
    return client.post(
        "/auth/login", data={"email": EMAIL, "password": PASSWORD, "remember": "y"}
    )


def test_login_cookies_are_http_only_and_same_site(client, builder_with_password):
    cookies = _set_cookies(_log_in_remembered(client))

    assert set(cookies) == {"session", "remember_token"}
    for header in cookies.values():
        assert "HttpOnly" in header
        assert "SameSite=Lax" in header
        assert "Secure" not in header


@pytest.fixture
def secure_cookies(monkeypatch) -> None:
    """The environment of a deployment behind HTTPS (before the app is built)."""
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")


def test_cookies_are_secure_when_asked(secure_cookies, client, builder_with_password):
    cookies = _set_cookies(_log_in_remembered(client))

    assert set(cookies) == {"session", "remember_token"}
    for header in cookies.values():
        assert "; Secure" in header
        assert "HttpOnly" in header


def test_every_page_forbids_framing_and_sniffing(app, client, workspace_id, rule_id):
    values = {"workspace_id": workspace_id, "rule_id": rule_id}
    pages = [
        re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set())
        and rule.endpoint.partition(".")[0] in ("auth", "dashboard", "demo")
    ]

    for url in [*pages, "/no-such-page"]:
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, url
        assert "script-src 'self'" in csp, url
        assert "'unsafe-inline'" not in csp, url
        assert response.headers["X-Frame-Options"] == "DENY", url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
    assert len(pages) >= 6


def test_api_answers_are_not_sniffed(client):
    response = client.get("/api:no-such-group/auth/me")

    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# Redirects.


UNSAFE_TARGETS = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    " //evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\x00/evil.example",
    "http:evil.example",
    "https://evil.example",
    "HTTPS://evil.example",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "@evil.example",
]


def test_next_never_leaves_the_site(client, builder_with_password):
    for target in UNSAFE_TARGETS:
        client.post("/auth/logout")
        logged_in = client.post(
            "/auth/login",
            query_string={"next": target},
            data={"email": EMAIL, "password": PASSWORD},
        )
        again = client.get("/auth/login", query_string={"next": target})

        for response in (logged_in, again):
            assert response.status_code == 302, target
            assert response.headers["Location"] == "/", target


def test_login_page_keeps_a_local_next_without_echoing_others(client):
    page = client.get("/auth/login", query_string={"next": "//evil.example"}).text

    assert "evil.example" not in page


def test_throttled_login_refuses_even_the_right_password(
    app, client, builder_with_password
):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/auth/login", data={"email": EMAIL, "password": "wrong"})

    response = client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 429
    assert client.get("/").status_code == 302


# JSON endpoints: every broken body is a 4xx JSON error.

_TWO_MB = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
BAD_BODIES = {
    "not_json": b"not json",
    "truncated": b'{"name": "Ann", "email": ',
    "array": b"[1, 2, 3]",
    "null": b"null",
    "string": b'"Ann"',
    "number": b"42",
    "nan": b"NaN",
    "missing_fields": b"{}",
    "wrong_types": json.dumps(
        {
            "name": 5,
            "email": ["ann@example.com"],
            "password": {"p": 1},
            "channel": 7,
            "data": None,
        }
    ).encode(),
    "nul_bytes": json.dumps(
        {
            "name": "Ann\u0000",
            "email": "ann\u0000@example.com",
            "password": "pass\u0000word",
            "channel": "room\u0000",
        }
    ).encode(),
    "lone_surrogates": b'{"name": "\\ud800", "email": "\\udfff@example.com",'
    b' "password": "\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800",'
    b' "channel": "\\ud800"}',
    "deep": b"[" * 100_000,
    "not_utf8": b"\xff\xfe\xfd",
    "two_megabytes": _TWO_MB,
}
CONTENT_TYPES = ["application/json", "text/plain", None]


@pytest.fixture
def api(app) -> dict[str, str]:
    """A Realtime-ready workspace's API group, server key and an end user token."""
    with app.app_context():
        workspace = Workspace(
            owner=Builder(email="api@example.com", password_hash="!"),
            name="Api",
            realtime_enabled=True,
            realtime_state="ready",
            channel_rules=[ChannelRule(name="room")],
        )
        key = workspace.rotate_server_key()
        # Nobody logs in as this end user: no slow password hashing.
        end_user = EndUser(
            workspace=workspace, name="Ann", email="ann@example.com", password_hash="!"
        )
        db.session.add(workspace)
        db.session.commit()
        token = issue_token(
            app.config["SECRET_KEY"], workspace.id, end_user.id, "Ann", 3600
        )
        return {
            "group": f"/api:{workspace.api_group_key}",
            "key": key,
            "token": token,
        }


ENDPOINTS = [
    ("POST", "auth/signup", None),
    ("POST", "auth/login", None),
    ("GET", "auth/me", None),
    ("POST", "realtime/event", "key"),
    ("POST", "realtime/event", None),
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize(("method", "path", "credential"), ENDPOINTS)
def test_json_endpoints_answer_broken_bodies_with_a_json_4xx(
    client, api, method, path, credential, content_type
):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if credential is not None:
        headers["Authorization"] = f"Bearer {api[credential]}"

    for name, body in BAD_BODIES.items():
        response = client.open(
            f"{api['group']}/{path}", method=method, data=body, headers=headers
        )

        assert 400 <= response.status_code < 500, (name, response.text)
        assert response.mimetype == "application/json", name
        assert set(response.json) == {"error", "message"}, name
        assert response.json["message"], name


def test_me_reads_no_body_at_all(client, api):
    headers = {"Authorization": f"Bearer {api['token']}"}

    for name, body in BAD_BODIES.items():
        response = client.get(f"{api['group']}/auth/me", data=body, headers=headers)

        assert response.status_code == 200, name
        assert response.json["name"] == "Ann"


# Dashboard forms with absurd values: a form error or a 4xx, never a 500.

ABSURD_VALUES = {
    "long": "x" * 20_000,
    "nul": "Mar\x00vel",
    "controls": "Mar\x1bvel\r\n\x7f",
    "unicode": "\u202eleveM \U0001f680 \u0301\ufeff \u6771\u4eac",
    "markup": "<img src=x onerror=alert(1)>",
    "huge_number": "9" * 5000,
    "negative": "-1",
    "float": "1e9",
    "empty": "",
    "too_big_for_the_form_parser": "y" * 600_000,
}
FORM_FIELDS = {
    "name": None,
    "confirm_name": None,
    "enabled": None,
    "nested": None,
    "history_size": None,
    "publish": None,
    "direct": None,
    "receive": None,
    "max_connections": None,
    "max_frame_bytes": None,
    "frames_per_second": None,
    "idle_timeout_seconds": None,
    "email": None,
    "password": None,
    "confirm": None,
    "hash-confirm": None,
    "key-confirm": None,
}
FORM_URLS = [
    "/workspaces",
    "/workspaces/{ws}/rename",
    "/workspaces/{ws}/delete",
    "/workspaces/{ws}/realtime",
    "/workspaces/{ws}/realtime/limits",
    "/workspaces/{ws}/realtime/rules",
    "/workspaces/{ws}/realtime/rules/{rule}",
    "/auth/signup",
    "/auth/login",
]


@pytest.mark.parametrize("url", FORM_URLS)
def test_forms_answer_absurd_values_without_a_500(
    app, client, workspace_id, rule_id, url
):
    url = url.format(ws=workspace_id, rule=rule_id)
    if url.startswith("/auth/"):
        client.post("/auth/logout")

    for name, value in ABSURD_VALUES.items():
        response = client.post(url, data=dict.fromkeys(FORM_FIELDS, value))

        # A form error (200), a redirect after a valid save, or a 4xx.
        assert response.status_code < 500, (name, response.status)
    assert load_workspace(app, workspace_id) is not None


@pytest.mark.parametrize("name", ["Mar\x00vel", "Tab\there", "Line\nbreak", "\x07"])
def test_workspace_names_with_control_characters_are_form_errors(
    app, client, builder_id, workspace_id, name
):
    created = client.post("/workspaces", data={"name": name})
    renamed = client.post(f"/workspaces/{workspace_id}/rename", data={"name": name})

    for response in (created, renamed):
        assert response.status_code == 200
        assert "cannot hold control characters" in response.text
    assert load_workspace(app, workspace_id).name == "Marvel"
    with app.app_context():
        assert db.session.query(Workspace).count() == 1


def test_unicode_workspace_names_are_kept_as_typed(app, client, workspace_id):
    name = "Caf\u00e9 \u6771\u4eac \U0001f680 \u202eright-to-left"

    response = client.post(f"/workspaces/{workspace_id}/rename", data={"name": name})

    assert response.status_code == 302
    assert load_workspace(app, workspace_id).name == name


def test_login_email_with_a_nul_byte_is_a_form_error(client, builder_with_password):
    response = client.post(
        "/auth/login", data={"email": "ada\x00@example.com", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert "Enter a valid email address." in response.text


@pytest.mark.parametrize(
    "url",
    [
        "/workspaces/99999999999999999999",
        "/workspaces/2147483648/realtime",
        "/workspaces/{ws}/realtime/rules/99999999999999999999",
        "/workspaces/{ws}/realtime/rules/2147483648/delete",
    ],
)
def test_ids_beyond_any_row_are_not_found(client, workspace_id, url):
    url = url.format(ws=workspace_id)
    method = "POST" if url.endswith("/delete") else "GET"

    response = client.open(url, method=method)

    assert response.status_code == 404


def test_location_of_a_form_redirect_stays_on_the_site(client, workspace_id):
    response = client.post(
        f"/workspaces/{workspace_id}/rename", data={"name": "Renamed"}
    )

    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc) in (("", ""), ("http", "localhost"))
