"""The database goes away for a moment: realtime goes on, pages answer 503.

A live server runs on a PostgreSQL database of this module's own. While
clients chat, the database refuses every connection (``ALLOW_CONNECTIONS
false``, and its sessions are terminated): connected clients keep chatting
from the settings the server cached, and pages answer 503 with a page that
says so. Once the database is back, pages work again.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar

import pytest

from tests.live import ServerProcess
from tests.services import PG_ADMIN_URL, require_service
from tests.test_socketio_rt import LIVE_SECRET_KEY, RtClient
from tests.ws_client import WsTestClient
from webapp import create_app
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace

pytestmark = pytest.mark.live

EMAIL = "outage@example.com"
PASSWORD = "correct horse battery"
CHANNEL = "chat"
WAIT_SECONDS = 20
UNAVAILABLE_TEXT = "briefly unavailable"


@dataclass
class Outage:
    """A live server on a database of its own, and a way to cut it off."""

    server: ServerProcess
    database: str
    connection_hash: str

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(statement)

    def cut(self) -> None:
        """Refuse new connections to the database and end the open ones."""
        self._admin(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.database}'"
        )

    def restore(self) -> None:
        self._admin(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')


def _seed(database_url: str) -> str:
    """Create the schema, a builder and its workspace; return the hash."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": LIVE_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ASYNC_MODE": "threading",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        builder = Builder(email=EMAIL)
        builder.set_password(PASSWORD)
        workspace = Workspace(
            owner=builder,
            name="Outage",
            realtime_enabled=True,
            realtime_state="ready",
            channel_rules=[ChannelRule(name=CHANNEL, history_size=10)],
        )
        db.session.add(workspace)
        db.session.commit()
        connection_hash = workspace.connection_hash
        db.session.remove()
        db.engine.dispose()
    return connection_hash


@pytest.fixture(scope="module")
def outage(tmp_path_factory, postgres_url) -> Iterator[Outage]:
    require_service(postgres_url is not None, "PostgreSQL is not reachable")
    import psycopg

    name = f"webapp_outage_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        instance = tmp_path_factory.mktemp("outage") / "instance"
        # The server migrates the database as it starts; seeding comes after.
        server = ServerProcess(instance, env={"DATABASE_URL": database_url}).start()
        running = Outage(server, name, _seed(database_url))
        yield running
        running.restore()
        server.stop()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _log_in(base_url: str) -> urllib.request.OpenerDirector:
    opener = _browser()
    _, page = _get(opener, base_url + "/auth/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    fields = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    data = urllib.parse.urlencode(fields).encode()
    with opener.open(base_url + "/auth/login", data=data, timeout=10) as response:
        assert response.geturl() == base_url + "/"
    return opener


def _chat(members: list[WsTestClient | RtClient], text: str) -> None:
    """Send ``text`` from the first member; every member must receive it."""
    members[0].send("message", CHANNEL, text)
    for member in members:
        assert member.expect("message")["payload"] == text


def _until(check, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _post_login(base_url: str) -> tuple[int, str]:
    """Submit the log-in form as a visitor would; return the answer."""
    opener = _browser()
    _, page = _get(opener, base_url + "/auth/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    fields = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    request = urllib.request.Request(
        base_url + "/auth/login",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Accept": "text/html"},
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def members(outage) -> Iterator[list[WsTestClient | RtClient]]:
    """Clients of both transports in the channel; closed afterwards."""
    url, connection_hash = outage.server.url, outage.connection_hash
    opened: list[WsTestClient | RtClient] = [
        WsTestClient(url, connection_hash),
        RtClient(url, connection_hash),
    ]
    for member in opened:
        member.join(CHANNEL)
    yield opened
    for member in opened:
        member.close()


def test_connected_clients_chat_on_while_the_database_is_away(outage, members):
    _chat(members, "before")

    outage.cut()
    try:
        _chat(members, "during")
        _chat(members[::-1], "during, the other way")
        # Cached settings admit newcomers of a workspace that has clients.
        newcomer = WsTestClient(outage.server.url, outage.connection_hash)
        members.append(newcomer)
        newcomer.join(CHANNEL)
        _chat([newcomer, *members[:-1]], "from a newcomer")
    finally:
        outage.restore()

    _chat(members, "after")


def test_pages_answer_503_with_a_plain_page_then_work_again(outage):
    url = outage.server.url
    builder = _log_in(url)

    outage.cut()
    try:
        pages = {
            "dashboard": _get(builder, url + "/"),
            "log-in form sent": _post_login(url),
        }
        # The log-in form itself needs no database.
        form_status, _ = _get(_browser(), url + "/auth/login")
    finally:
        outage.restore()

    for name, (status, body) in pages.items():
        assert status == 503, name
        assert UNAVAILABLE_TEXT in body, name
        assert "Traceback" not in body and "OperationalError" not in body, name
    assert form_status == 200
    assert _until(lambda: _get(builder, url + "/")[0] == 200)
    assert _post_login(url)[0] == 200


def test_health_check_reports_the_database_while_it_is_away(outage):
    outage.cut()
    try:
        status, body = _get(_browser(), outage.server.url + "/healthz")
    finally:
        outage.restore()

    assert status == 503
    assert '"database"' in body and "unavailable" in body
    assert _until(lambda: _get(_browser(), outage.server.url + "/healthz")[0] == 200)
