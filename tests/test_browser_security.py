"""Pages under their own Content-Security-Policy, and markup in names, in a browser.

Every page of the app is visited in chromium with the policy the server sends:
none may trip it or log an error. A workspace named with HTML and script is
shown as text on every dashboard page, and nothing in it runs.
"""

from __future__ import annotations

import pytest

from tests.browser import (  # noqa: F401 (fixtures)
    BUILDER_EMAIL,
    BUILDER_PASSWORD,
    RealtimeServer,
    SeededWorkspace,
    WatchedPage,
    expect,
    realtime_server_fixture,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

MARKUP_NAME = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def log_in(watched: WatchedPage, server: RealtimeServer) -> None:
    page = watched.page
    page.goto(server.url + "/auth/login")
    page.fill("#email", BUILDER_EMAIL)
    page.fill("#password", BUILDER_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your workspaces")


def assert_clean(watched: WatchedPage, where: str) -> None:
    """Nothing ran that the page did not mean to run, and nothing went wrong."""
    page = watched.page
    assert page.evaluate("window.__pwned") is None, where
    assert page.locator("img[src='x'], script:not([src])").count() == 0, where
    assert watched.problems() == [], where


def test_every_page_keeps_to_its_content_security_policy(realtime_server, browser_page):
    workspace = realtime_server.take_workspace()
    watched = browser_page()
    page = watched.page
    base = realtime_server.url

    for path, heading in (
        ("/auth/signup", "Create your account"),
        ("/auth/login", "Log in"),
    ):
        page.goto(base + path)
        expect(page.locator("h1")).to_have_text(heading)
        assert_clean(watched, path)
    log_in(watched, realtime_server)
    assert_clean(watched, "/")

    page.goto(f"{base}/workspaces/{workspace.id}")
    expect(page.locator("h1")).to_contain_text("Marvel ")
    assert_clean(watched, "workspace")
    page.click("text=Realtime Settings")
    expect(page.locator("#connection-hash")).to_have_text(workspace.connection_hash)
    assert_clean(watched, "realtime settings")
    page.click("#channel-rules a:text('Edit')")
    expect(page.locator("input#name")).to_have_value("marvel-chat-room")
    assert_clean(watched, "rule edit")
    page.goto(f"{base}/workspaces/{workspace.id}/realtime")
    page.check("#key-confirm")
    page.click("#server-key button[type=submit]")
    expect(page.locator("body")).to_contain_text("will not be shown again")
    assert_clean(watched, "server key")

    page.goto(workspace.demo_url())
    expect(page.locator("#connection-state")).to_have_text("Connected")
    assert_clean(watched, "demo")


def _expect_name_as_text(watched: WatchedPage, locator: str, where: str) -> None:
    expect(watched.page.locator(locator).first).to_contain_text(MARKUP_NAME)
    assert_clean(watched, where)


def test_markup_in_a_workspace_name_is_shown_as_text(realtime_server, browser_page):
    workspace: SeededWorkspace = realtime_server.take_workspace()
    watched = browser_page()
    page = watched.page
    log_in(watched, realtime_server)

    page.goto(f"{realtime_server.url}/workspaces/{workspace.id}")
    page.fill("#name", MARKUP_NAME)
    page.click("button:text('Rename')")

    expect(page.locator("h1")).to_have_text(MARKUP_NAME)
    assert MARKUP_NAME in page.title()
    assert_clean(watched, "workspace")
    page.goto(realtime_server.url + "/")
    _expect_name_as_text(watched, ".workspace-list", "index")
    page.goto(f"{realtime_server.url}/workspaces/{workspace.id}/realtime")
    _expect_name_as_text(watched, "body", "realtime settings")
    page.click("#channel-rules a:text('Edit')")
    _expect_name_as_text(watched, "body", "rule edit")

    page.goto(f"{realtime_server.url}/workspaces/{workspace.id}")
    page.fill("#confirm_name", MARKUP_NAME)
    page.click("button:text('Delete workspace')")

    expect(page.locator("h1")).to_have_text("Your workspaces")
    _expect_name_as_text(watched, "body", "flash after delete")
