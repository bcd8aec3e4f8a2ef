"""The Marvel chat demo page and the static files it loads."""

from __future__ import annotations

import re

import pytest

SCRIPTS = (
    "/static/vendor/socket.io-4.8.4.min.js",
    "/static/js/realtime.js",
    "/static/js/marvel-chat.js",
)


@pytest.fixture
def database_url(tmp_path) -> str:
    # The page reads no database: SQLite alone is enough.
    return f"sqlite:///{tmp_path / 'test.sqlite'}"


def test_demo_page_has_the_connect_form(client):
    response = client.get("/demo/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="connect-form"' in html
    assert 'name="api"' in html
    assert 'name="hash"' in html
    assert 'data-channel="marvel-chat-room"' in html


def test_demo_page_loads_client_sdk_and_page_script_in_order(client):
    html = client.get("/demo/").get_data(as_text=True)

    sources = re.findall(r'<script src="([^"]+)"', html)
    assert sources == list(SCRIPTS)


def test_demo_page_has_no_inline_script_or_style(client):
    html = client.get("/demo/").get_data(as_text=True)

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert " style=" not in html
    assert "//cdn" not in html


def test_demo_page_is_served_with_a_strict_csp(client):
    csp = client.get("/demo/").headers["Content-Security-Policy"]

    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp


def _fetch(client, path: str) -> tuple[int, str, str]:
    # Static files are streamed from disk: close each response, or its file
    # handle leaks (a ResourceWarning, an error under our warning filter).
    with client.get(path) as response:
        return response.status_code, response.content_type, response.get_data(True)


@pytest.mark.parametrize("path", SCRIPTS)
def test_demo_scripts_are_served_as_javascript(client, path):
    status, content_type, body = _fetch(client, path)

    assert status == 200
    assert "javascript" in content_type
    assert len(body) > 1000


def test_demo_stylesheet_is_served(client):
    status, content_type, _ = _fetch(client, "/static/css/demo.css")

    assert status == 200
    assert content_type.startswith("text/css")


def test_vendored_socketio_client_is_pinned_with_its_license(client):
    _, _, script = _fetch(client, SCRIPTS[0])
    status, _, license_text = _fetch(
        client, "/static/vendor/socket.io-4.8.4.LICENSE.txt"
    )

    assert "Socket.IO v4.8.4" in script
    assert status == 200
    assert "MIT License" in license_text


def test_demo_page_prefills_api_and_hash_from_query(client):
    response = client.get(
        "/demo/", query_string={"api": "http://x.test/api:Key1", "hash": "h4sh"}
    )

    html = response.get_data(as_text=True)
    assert 'value="http://x.test/api:Key1"' in html
    assert 'value="h4sh"' in html


def test_demo_page_escapes_query_values(client):
    response = client.get("/demo/", query_string={"hash": '"><script>x()</script>'})

    html = response.get_data(as_text=True)
    assert "<script>x()" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


def test_demo_page_without_query_leaves_fields_empty(client):
    html = client.get("/demo/").get_data(as_text=True)

    assert re.search(r'id="api-url"[^>]*value=""', html)
    assert re.search(r'id="connection-hash"[^>]*value=""', html)
