"""Builders' sign-up, log-in, log-out, the log-in throttle and CSRF on the forms."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask_login import current_user

from webapp import throttle
from webapp.extensions import db
from webapp.models import Builder

EMAIL = "ada@example.com"
PASSWORD = "correct horse"


class FakeClock:
    """A clock the tests move forward by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def throttle_limits(app_config) -> None:
    app_config["LOGIN_MAX_FAILURES"] = 3
    app_config["LOGIN_LOCKOUT_SECONDS"] = 300


@pytest.fixture
def csrf_client(app_config, request):
    """A client of an app that checks CSRF tokens, as in production.

    Tests using it must not ask for ``app`` first, or the app is built before
    the setting changes.
    """
    app_config["WTF_CSRF_ENABLED"] = True
    return request.getfixturevalue("client")


@pytest.fixture
def builder(client, auth) -> None:
    """An existing builder account, logged out."""
    auth.signup(EMAIL, PASSWORD)
    auth.logout()
    # Shows, and so consumes, the "logged out" flash.
    client.get("/auth/login")


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock()
    throttle.init_app(app, clock=fake)
    return fake


def _location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


def _builder_count(app) -> int:
    with app.app_context():
        return db.session.query(Builder).count()


def _csrf_token(client, path: str) -> str:
    page = client.get(path).text
    field = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)[0]
    return re.search(r'value="([^"]+)"', field)[1]


def test_signup_logs_in_and_redirects_to_dashboard(app, client, auth):
    response = auth.signup("  Ada@Example.COM ", PASSWORD)

    assert response.status_code == 302
    assert _location_path(response) == "/"
    with client:
        client.get("/auth/login")
        assert current_user.is_authenticated
        assert current_user.email == EMAIL


def test_signup_rejects_duplicate_email(app, auth, builder):
    response = auth.signup(EMAIL.upper(), "another password")

    assert response.status_code == 200
    assert "An account with this email already exists." in response.text
    assert _builder_count(app) == 1


def test_signup_rejects_malformed_email(app, auth):
    response = auth.signup("not-an-email", PASSWORD)

    assert response.status_code == 200
    assert "Enter a valid email address." in response.text
    assert _builder_count(app) == 0


def test_signup_rejects_short_password(app, auth):
    response = auth.signup(EMAIL, "short")

    assert "The password must be 8 to 256 characters long." in response.text
    assert _builder_count(app) == 0


def test_signup_rejects_mismatched_confirmation(app, client):
    response = client.post(
        "/auth/signup",
        data={"email": EMAIL, "password": PASSWORD, "confirm": PASSWORD + "!"},
    )

    assert "The passwords do not match." in response.text
    assert _builder_count(app) == 0


def test_wrong_password_and_unknown_email_look_the_same(auth, builder):
    wrong_password = auth.login(EMAIL, "wrong password")
    unknown_email = auth.login("nobody@example.com", PASSWORD)

    assert wrong_password.status_code == unknown_email.status_code == 200
    assert "Invalid email or password." in wrong_password.text
    assert wrong_password.text == unknown_email.text.replace(
        "nobody@example.com", EMAIL
    )


def test_login_redirects_to_dashboard(client, auth, builder):
    response = auth.login(EMAIL, PASSWORD)

    assert response.status_code == 302
    assert _location_path(response) == "/"
    with client:
        client.get("/auth/login")
        assert current_user.is_authenticated


def test_remember_me_sets_remember_cookie(client, builder):
    client.post(
        "/auth/login", data={"email": EMAIL, "password": PASSWORD, "remember": "y"}
    )

    assert client.get_cookie("remember_token") is not None


def test_login_without_remember_me_sets_no_remember_cookie(client, auth, builder):
    auth.login(EMAIL, PASSWORD)

    assert client.get_cookie("remember_token") is None


def test_login_follows_relative_next(client, builder):
    response = client.post(
        "/auth/login?next=/workspaces/3?tab=keys",
        data={"email": EMAIL, "password": PASSWORD},
    )

    assert response.headers["Location"] == "/workspaces/3?tab=keys"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_refuses_next_leaving_the_site(client, builder, target):
    response = client.post(
        "/auth/login",
        query_string={"next": target},
        data={"email": EMAIL, "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_dashboard_sends_anonymous_visitor_to_login_with_next(client):
    response = client.get("/")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == ["/"]


def _fail_logins(auth, count: int) -> None:
    for _ in range(count):
        auth.login(EMAIL, "wrong password")


def test_login_locks_out_after_too_many_failures(app, auth, builder, clock):
    _fail_logins(auth, app.config["LOGIN_MAX_FAILURES"])

    response = auth.login(EMAIL, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed log-ins. Try again in 5 minutes." in response.text
    assert response.headers["Retry-After"] == "300"


def test_login_works_again_after_lockout(app, client, auth, builder, clock):
    _fail_logins(auth, app.config["LOGIN_MAX_FAILURES"])
    clock.advance(app.config["LOGIN_LOCKOUT_SECONDS"])

    response = auth.login(EMAIL, PASSWORD)

    assert response.status_code == 302
    assert _location_path(response) == "/"


def test_failures_outside_the_window_do_not_count(app, auth, builder, clock):
    _fail_logins(auth, app.config["LOGIN_MAX_FAILURES"] - 1)
    clock.advance(app.config["LOGIN_LOCKOUT_SECONDS"])
    _fail_logins(auth, 1)

    response = auth.login(EMAIL, "wrong password")

    assert response.status_code == 200
    assert "Invalid email or password." in response.text


def test_successful_login_resets_failure_count(app, auth, builder, clock):
    _fail_logins(auth, app.config["LOGIN_MAX_FAILURES"] - 1)
    auth.login(EMAIL, PASSWORD)
    auth.logout()
    _fail_logins(auth, app.config["LOGIN_MAX_FAILURES"] - 1)

    response = auth.login(EMAIL, PASSWORD)

    assert response.status_code == 302


def test_logout_logs_out_and_redirects_to_login(client, builder):
    client.post(
        "/auth/login", data={"email": EMAIL, "password": PASSWORD, "remember": "y"}
    )

    response = client.post("/auth/logout")

    assert response.status_code == 302
    assert _location_path(response) == "/auth/login"
    assert client.get_cookie("remember_token") is None
    with client:
        client.get("/auth/login")
        assert not current_user.is_authenticated


def test_login_renews_the_session(client, auth, builder):
    with client.session_transaction() as session:
        session["planted"] = "before login"

    auth.login(EMAIL, PASSWORD)

    with client.session_transaction() as session:
        assert "planted" not in session
        assert "_user_id" in session


@pytest.mark.parametrize("path", ["/auth/signup", "/auth/login", "/auth/logout"])
def test_posts_without_csrf_token_are_refused(csrf_client, path):
    data = {"email": EMAIL, "password": PASSWORD, "confirm": PASSWORD}

    response = csrf_client.post(path, data=data)

    assert response.status_code == 400


def test_signup_form_carries_a_working_csrf_token(csrf_client):
    token = _csrf_token(csrf_client, "/auth/signup")
    data = {"email": EMAIL, "password": PASSWORD, "confirm": PASSWORD}

    response = csrf_client.post("/auth/signup", data={**data, "csrf_token": token})

    assert response.status_code == 302
    assert _builder_count(csrf_client.application) == 1
