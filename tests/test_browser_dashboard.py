"""The dashboard in a real browser: from sign-up to a ready connection hash."""

from __future__ import annotations

import re

import pytest

from tests.browser import expect

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_builder_signs_up_enables_realtime_and_sees_the_hash(live_server, browser_page):
    watched = browser_page(live_server.url + "/auth/signup")
    page = watched.page

    page.fill("#email", "stark@example.com")
    page.fill("#password", "correct horse battery")
    page.fill("#confirm", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your workspaces")

    page.fill("#name", "Avengers")
    page.click("text=Create workspace")
    expect(page.locator("body")).to_contain_text("will not be shown again")
    page.goto(live_server.url + "/")
    page.click("text=Avengers")
    page.click("text=Realtime Settings")
    page.select_option("#enabled", label="Yes")
    page.click("#realtime button[type=submit]")

    # The badge goes through provisioning to ready while the page is open.
    expect(page.locator("#realtime .badge")).to_have_text("Ready")
    connection_hash = page.locator("#connection-hash").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", connection_hash)
    expect(page.locator("#api-url")).to_contain_text("/api:")
    expect(page.locator("button[data-copy-target=connection-hash]")).to_be_visible()
    assert watched.problems() == []
