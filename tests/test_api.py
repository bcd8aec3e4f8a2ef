"""The per-workspace API group: end users' signup, login and ``/auth/me``."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.extensions import db
from webapp.models import Builder, EndUser, Workspace
from webapp.tokens import issue_token

PASSWORD = "correct horse"


def make_group(app, email: str = "builder@example.com") -> tuple[int, str]:
    """Create a builder's workspace; return its id and its API group path."""
    with app.app_context():
        builder = db.session.query(Builder).filter_by(email=email).one_or_none()
        if builder is None:
            # No one logs in as this builder: skip the slow password hashing.
            builder = Builder(email=email, password_hash="!")
        workspace = Workspace(owner=builder, name="Shop")
        db.session.add(workspace)
        db.session.commit()
        return workspace.id, f"/api:{workspace.api_group_key}"


@pytest.fixture
def group(app) -> str:
    return make_group(app)[1]


def signup(client, group: str, email: str = "ann@example.com", name: str = "Ann"):
    return client.post(
        f"{group}/auth/signup",
        json={"name": name, "email": email, "password": PASSWORD},
    )


def me(client, group: str, token: str):
    return client.get(f"{group}/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_signup_returns_a_token_that_names_the_end_user(client, group):
    response = signup(client, group)

    assert response.status_code == 200
    answer = me(client, group, response.json["authToken"])
    assert answer.status_code == 200
    assert answer.json == {"id": 1, "name": "Ann", "email": "ann@example.com"}


def test_login_returns_a_token_for_the_right_password(client, group):
    signup(client, group)

    response = client.post(
        f"{group}/auth/login", json={"email": "ANN@example.com", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert me(client, group, response.json["authToken"]).json["name"] == "Ann"


@pytest.mark.parametrize("email", ["ann@example.com", " Ann@Example.COM "])
def test_signup_refuses_an_email_taken_in_the_workspace(client, group, email):
    signup(client, group)

    response = signup(client, group, email=email)

    assert response.status_code == 409
    assert response.json["error"] == "email_taken"


def test_same_email_may_sign_up_in_two_workspaces(app, client):
    _, first = make_group(app)
    _, second = make_group(app)

    assert signup(client, first).status_code == 200
    assert signup(client, second).status_code == 200


def test_wrong_password_and_unknown_email_answer_alike(client, group):
    signup(client, group)

    wrong_password = client.post(
        f"{group}/auth/login",
        json={"email": "ann@example.com", "password": "nope-nope"},
    )
    unknown_email = client.post(
        f"{group}/auth/login", json={"email": "bob@example.com", "password": PASSWORD}
    )
    malformed_email = client.post(
        f"{group}/auth/login", json={"email": "not-an-email", "password": PASSWORD}
    )

    assert wrong_password.status_code == 401
    assert wrong_password.json["error"] == "invalid_credentials"
    assert unknown_email.status_code == 401
    assert unknown_email.get_data() == wrong_password.get_data()
    assert malformed_email.get_data() == wrong_password.get_data()


def test_token_of_another_workspace_is_refused(app, client):
    _, first = make_group(app)
    _, second = make_group(app)
    token = signup(client, first).json["authToken"]

    response = me(client, second, token)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_expired_token_is_refused(app, client, group):
    signup(client, group)
    with app.app_context():
        end_user = db.session.query(EndUser).one()
        token = issue_token(
            app.config["SECRET_KEY"], end_user.workspace_id, end_user.id, "Ann", 0
        )

    response = me(client, group, token)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_tampered_token_is_refused(client, group):
    token = signup(client, group).json["authToken"]
    payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    assert me(client, group, f"{payload}.{flipped}").status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic YW5uOnB3", "Bearer not.a-token", "x" * 5000],
)
def test_me_refuses_a_missing_or_malformed_authorization(client, group, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get(f"{group}/auth/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"] == "invalid_token"


def test_token_of_a_deleted_end_user_is_refused(app, client, group):
    token = signup(client, group).json["authToken"]
    with app.app_context():
        db.session.delete(db.session.query(EndUser).one())
        db.session.commit()

    assert me(client, group, token).status_code == 401


@pytest.mark.parametrize(
    ("method", "route"),
    [("post", "auth/signup"), ("post", "auth/login"), ("get", "auth/me")],
)
def test_unknown_group_key_is_a_json_404(client, method, route):
    response = getattr(client, method)(f"/api:no-such-key/{route}", json={})

    assert response.status_code == 404
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("key", ["%00", "a%00b", "x" * 40, "%C3%A9", "a.b"])
def test_malformed_group_key_is_a_json_404(client, key):
    response = client.post(f"/api:{key}/auth/login", json={})

    assert response.status_code == 404
    assert response.json["error"] == "not_found"


VALID = {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, None),
        (b"{not json", 400, None),
        (b"\xff\xfe", 400, None),
        (b"[1, 2]", 400, None),
        (b'"a string"', 400, None),
        (b"null", 400, None),
        (b"[" * 100_000, 400, None),
        ({"email": "ann@example.com", "password": PASSWORD}, 422, "name:"),
        ({"name": "Ann", "password": PASSWORD}, 422, "email:"),
        ({"name": "Ann", "email": "ann@example.com"}, 422, "password:"),
        ({}, 422, "name:"),
        ({**VALID, "name": []}, 422, "name: must be a string"),
        ({**VALID, "email": 5}, 422, "email: must be a string"),
        ({**VALID, "password": None}, 422, "password: must be a string"),
        ({**VALID, "name": "   "}, 422, "name:"),
        ({**VALID, "name": "x" * 81}, 422, "name:"),
        ({**VALID, "name": "Ann\nSmith"}, 422, "name:"),
        ({**VALID, "name": "Ann\u0000"}, 422, "name:"),
        ({**VALID, "name": "\ud800"}, 422, "name:"),
        ({**VALID, "email": "not-an-email"}, 422, "email:"),
        ({**VALID, "email": "a" * 250 + "@example.com"}, 422, "email:"),
        ({**VALID, "password": "short"}, 422, "password:"),
        ({**VALID, "password": "p" * 1025}, 422, "password:"),
        ({**VALID, "password": "\ud800" * 8}, 422, "password:"),
    ],
)
def test_signup_refuses_a_bad_body(client, group, body, status, message):
    data = body if isinstance(body, bytes) else json.dumps(body)

    response = client.post(
        f"{group}/auth/signup", data=data, content_type="application/json"
    )

    assert response.status_code == status
    assert response.json["error"] == (
        "invalid_json" if status == 400 else "invalid_input"
    )
    if message is not None:
        assert response.json["message"].startswith(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": PASSWORD}, "email:"),
        ({"email": "ann@example.com"}, "password:"),
        ({"email": ["ann@example.com"], "password": PASSWORD}, "email: must be"),
        ({"email": "ann@example.com", "password": 12345678}, "password: must be"),
        ({"email": "ann@example.com", "password": "\ud800"}, "password:"),
    ],
)
def test_login_refuses_a_bad_body(client, group, body, message):
    response = client.post(f"{group}/auth/login", json=body)

    assert response.status_code == 422
    assert response.json["message"].startswith(message)


def test_login_accepts_json_sent_without_a_json_content_type(client, group):
    signup(client, group)

    response = client.post(
        f"{group}/auth/login",
        data=json.dumps({"email": "ann@example.com", "password": PASSWORD}),
        content_type="text/plain",
    )

    assert response.status_code == 200


def test_oversized_body_is_a_json_413(app, client, group):
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = client.post(
        f"{group}/auth/signup", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight_allows_any_origin(client, group):
    response = client.options(
        f"{group}/auth/me",
        headers={
            "Origin": "https://shop.example.net",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_cors_headers_come_with_api_errors(client):
    response = client.get(
        "/api:no-such-key/auth/me", headers={"Origin": "https://shop.example.net"}
    )

    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_dashboard_pages_get_no_cors_headers(client):
    response = client.get("/auth/login", headers={"Origin": "https://shop.example.net"})

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
def csrf_enabled(app_config) -> None:
    app_config["WTF_CSRF_ENABLED"] = True


def test_api_group_needs_no_csrf_token(csrf_enabled, client, group):
    assert signup(client, group).status_code == 200


def test_logs_name_ids_but_never_secrets(client, group, caplog):
    with caplog.at_level(logging.INFO, logger="webapp.blueprints.api"):
        token = signup(client, group).json["authToken"]
        client.post(
            f"{group}/auth/login",
            json={"email": "ann@example.com", "password": PASSWORD},
        )

    messages = [record.getMessage() for record in caplog.records]
    assert any("signed up" in m and "end_user=1" in m for m in messages)
    assert any("logged in" in m and "end_user=1" in m for m in messages)
    for text in (PASSWORD, token, "ann@example.com"):
        assert not any(text in m for m in messages)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={"name": _JSON, "email": _JSON | st.emails(), "password": _JSON},
    )
    | _JSON
)
def test_signup_and_login_never_fail_on_any_json(client, group, body):
    for route in ("auth/signup", "auth/login"):
        response = client.post(f"{group}/{route}", json=body)

        assert response.status_code < 500
        assert "error" in response.json or "authToken" in response.json


def test_repeated_failed_logins_are_refused_for_a_while(app, client, group):
    signup(client, group)
    other_group = make_group(app)[1]
    signup(client, other_group)
    wrong = {"email": "ann@example.com", "password": "not the password"}
    right = {"email": "ann@example.com", "password": PASSWORD}

    failures = [
        client.post(f"{group}/auth/login", json=wrong).status_code
        for _ in range(app.config["LOGIN_MAX_FAILURES"])
    ]
    locked = client.post(f"{group}/auth/login", json=right)
    elsewhere = client.post(f"{other_group}/auth/login", json=right)

    assert set(failures) == {401}
    assert locked.status_code == 429
    assert locked.json["error"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) > 0
    assert elsewhere.status_code == 200
