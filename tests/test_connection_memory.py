"""What each connection keeps: shared client parts, one environ, no write buffer.

These keep a connection's memory low; the tests check that doing so changed
nothing a client or the app can see.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

from tests.harness import Harness
from tests.live import ROOT
from webapp.extensions import socketio
from webapp.realtime.rules import ChannelRule


@pytest.fixture
def rt() -> Harness:
    return Harness(ChannelRule("chat"))


def test_anonymous_clients_share_parts_that_cannot_change(rt):
    first, second = rt.connect(), rt.connect()

    assert first.client["permissions"] is second.client["permissions"]
    assert first.client["extras"] is second.client["extras"]
    with pytest.raises(TypeError):
        first.client["permissions"]["row_id"] = 5
    with pytest.raises(TypeError):
        first.client["extras"].update(name="x")
    assert json.loads(json.dumps(first.client)) == {
        "socketId": first.socket_id,
        "extras": {},
        "permissions": {"dbo_id": 0, "row_id": 0},
        "authenticated": False,
    }


def test_copies_of_a_shared_part_are_plain_dicts(rt):
    client = copy.deepcopy(rt.connect().client)

    client["permissions"]["row_id"] = 5

    assert type(client["permissions"]) is dict
    assert rt.connect().client["permissions"] == {"dbo_id": 0, "row_id": 0}


def test_authenticated_clients_keep_parts_of_their_own(rt):
    alice, bob = rt.connect((7, "Alice")), rt.connect((8, "Bob"))

    assert alice.client["permissions"] == {"dbo_id": 1, "row_id": 7}
    assert bob.client["extras"] == {"id": 8, "name": "Bob"}
    assert alice.client["permissions"] is not bob.client["permissions"]


def test_socketio_requests_keep_the_servers_environ(app):
    environ = EnvironBuilder(
        path="/socket.io/", query_string="EIO=4&transport=polling"
    ).get_environ()
    statuses = []

    body = b"".join(
        app.wsgi_app(environ, lambda status, headers, exc=None: statuses.append(status))
    )

    assert statuses == ["200 OK"]
    assert body.startswith(b"0{")
    assert environ["flask.app"] is app
    assert any(kept is environ for kept in socketio.server.environ.values())


def test_other_requests_reach_flask(client):
    assert client.get("/healthz").status_code == 200


def _largest_static_file() -> Path:
    files = [path for path in (ROOT / "static").rglob("*") if path.is_file()]
    return max(files, key=lambda path: path.stat().st_size)


def test_responses_on_one_kept_alive_connection(live_server):
    large = _largest_static_file()
    large_path = "/" + large.relative_to(ROOT).as_posix()
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    try:
        for path in ("/healthz", large_path, "/no-such-page", "/healthz"):
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert len(body) == int(response.getheader("Content-Length"))
            if path == large_path:
                assert body == large.read_bytes()
            else:
                assert response.status in (200, 404)
    finally:
        connection.close()


def _read_response_head(sock: socket.socket, buffered: bytes) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    return head, rest


def test_expect_100_continue_gets_its_interim_answer(live_server):
    body = b"email=a%40example.com&password=wrong"
    request = (
        b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(request)
        interim, rest = _read_response_head(sock, b"")
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        final, rest = _read_response_head(sock, rest)

    assert final.split(b" ", 2)[1] in (b"200", b"400")


def test_app_py_serves_with_the_lean_protocol(tmp_path):
    # The server itself is swapped for one that names the protocol it got.
    script = (
        "import app, eventlet.wsgi\n"
        "eventlet.wsgi.server = lambda *args, **options: "
        "print('protocol:', options['protocol'].__name__)\n"
        "app.serve('127.0.0.1', 0)\n"
    )
    env = {
        **os.environ,
        "ASYNC_MODE": "eventlet",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "lean-protocol-test",
        "DEMO_DATA": "0",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "protocol: LeanHttpProtocol" in done.stdout.splitlines()
