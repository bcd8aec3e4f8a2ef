"""The Marvel chat demo and the browser SDK in a real browser, against a live server."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.browser import (  # noqa: F401 (fixtures)
    WatchedPage,
    bare_workspace_fixture,
    demo_workspace_fixture,
    expect,
    realtime_server_fixture,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

# A refused WebSocket handshake is logged by the browser itself, not the page.
BROWSER_NETWORK_NOISE = ("WebSocket connection to",)


def wait_connected(watched: WatchedPage) -> None:
    expect(watched.page.locator("#connection-state")).to_have_text("Connected")
    expect(watched.page.locator("#send-button")).to_be_enabled()


def send(watched: WatchedPage, text: str) -> None:
    watched.page.fill("#message-text", text)
    watched.page.click("#send-button")
    expect(watched.page.locator("#message-text")).to_have_value("")


def test_two_pages_chat_and_see_each_other_in_presence(demo_workspace, browser_page):
    wanda = browser_page(demo_workspace.demo_url())
    vision = browser_page(demo_workspace.demo_url())
    wait_connected(wanda)
    wait_connected(vision)

    for watched in (wanda, vision):
        expect(watched.page.locator("#presence-list li")).to_have_count(2)
    wanda.page.fill("#nickname", "Wanda")
    send(wanda, "Hello from Westview")

    seen = vision.page.locator("#message-list .message")
    expect(seen).to_have_count(1)
    expect(seen.locator(".message-name")).to_have_text("Wanda")
    expect(seen.locator(".message-text")).to_have_text("Hello from Westview")
    expect(wanda.page.locator("#message-list .message.mine")).to_have_count(1)
    assert wanda.problems() == []
    assert vision.problems() == []


def test_presence_list_drops_a_page_that_leaves(demo_workspace, browser_page):
    staying = browser_page(demo_workspace.demo_url())
    leaving = browser_page(demo_workspace.demo_url())
    wait_connected(staying)
    wait_connected(leaving)
    expect(staying.page.locator("#presence-list li")).to_have_count(2)

    leaving.page.close()

    expect(staying.page.locator("#presence-list li")).to_have_count(1)
    expect(staying.page.locator("#presence-list li")).to_contain_text("(you)")


def test_reloading_the_page_shows_the_history(demo_workspace, browser_page):
    watched = browser_page(demo_workspace.demo_url())
    wait_connected(watched)
    send(watched, "Avengers")
    send(watched, "Assemble")
    expect(watched.page.locator(".message-text")).to_have_count(2)

    watched.page.reload()

    wait_connected(watched)
    expect(watched.page.locator(".message-text")).to_have_text(["Avengers", "Assemble"])
    assert watched.problems() == []


def test_history_is_shown_to_a_page_that_joins_later(demo_workspace, browser_page):
    first = browser_page(demo_workspace.demo_url())
    wait_connected(first)
    first.page.fill("#nickname", "Peggy")
    send(first, "I'll wait for you")

    later = browser_page(demo_workspace.demo_url())

    message = later.page.locator("#message-list .message")
    expect(message.locator(".message-text")).to_have_text(["I'll wait for you"])
    expect(message.locator(".message-name")).to_have_text(["Peggy"])


def test_wrong_connection_hash_shows_the_error_banner(demo_workspace, browser_page):
    watched = browser_page(demo_workspace.demo_url(connection_hash="not-a-real-hash"))

    banner = watched.page.locator("#status-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("invalid_hash")
    expect(watched.page.locator("#connection-state")).to_have_text("Disconnected")
    expect(watched.page.locator("#send-button")).to_be_disabled()
    assert watched.problems(ignore=BROWSER_NETWORK_NOISE) == []


def test_channel_without_a_rule_shows_the_error_banner(bare_workspace, browser_page):
    watched = browser_page(bare_workspace.demo_url())

    expect(watched.page.locator("#status-banner")).to_contain_text(
        "channel_not_allowed"
    )
    expect(watched.page.locator("#send-button")).to_be_disabled()
    assert watched.problems() == []


def test_html_in_a_message_is_shown_as_text(demo_workspace, browser_page):
    sender = browser_page(demo_workspace.demo_url())
    reader = browser_page(demo_workspace.demo_url())
    wait_connected(sender)
    wait_connected(reader)
    markup = (
        '<img src="x" onerror="window.__pwned = 1">'
        "<script>window.__pwned = 2</script><b>bold</b>"
    )

    sender.page.fill("#nickname", '<i onmouseover="window.__pwned = 3">Loki</i>')
    send(sender, markup)

    for watched in (sender, reader):
        message = watched.page.locator("#message-list .message")
        expect(message.locator(".message-text")).to_have_text(markup)
        expect(message.locator(".message-name")).to_contain_text("<i onmouseover=")
        assert watched.page.locator("#message-list img, #message-list b").count() == 0
        assert watched.page.evaluate("window.__pwned") is None
        assert watched.problems() == []


def test_submitting_the_form_connects_and_remembers_the_values(
    demo_workspace, browser_page
):
    watched = browser_page(f"{demo_workspace.server_url}/demo/")
    page = watched.page
    expect(page.locator("#connection-state")).to_have_text("Not connected")

    page.fill("#api-url", demo_workspace.api_url)
    page.fill("#connection-hash", demo_workspace.connection_hash)
    page.click("#connect-button")
    wait_connected(watched)
    page.goto(f"{demo_workspace.server_url}/demo/")

    expect(page.locator("#api-url")).to_have_value(demo_workspace.api_url)
    wait_connected(watched)
    assert watched.problems() == []


def test_end_user_signup_connects_as_an_authenticated_client(
    demo_workspace, browser_page
):
    watched = browser_page(demo_workspace.demo_url())
    page = watched.page
    wait_connected(watched)

    page.fill("#account-name", "Natasha")
    page.fill("#account-email", "natasha@example.com")
    page.fill("#account-password", "red room ledger")
    page.click("#signup-button")

    expect(page.locator("#signed-in-name")).to_have_text("Natasha")
    wait_connected(watched)
    expect(page.locator("#presence-list li")).to_have_count(1)
    expect(page.locator("#presence-list li")).to_contain_text("Natasha (you)")
    send(watched, "Signed in")
    message = page.locator("#message-list .message")
    expect(message.locator(".message-name")).to_have_text("Natasha")
    expect(message.locator(".badge")).to_have_text("signed in")
    assert watched.problems() == []


def _dashboard_session(base_url: str, email: str, password: str):
    """Log a builder in to the dashboard; return an opener carrying the cookie."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(CookieJar())
    )
    token = _csrf_token(opener, f"{base_url}/auth/login")
    _post(
        opener,
        f"{base_url}/auth/login",
        {"email": email, "password": password, "csrf_token": token},
    )
    return opener


def _csrf_token(opener, url: str) -> str:
    with opener.open(url, timeout=10) as response:
        html = response.read().decode()
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def _post(opener, url: str, fields: dict[str, str]) -> str:
    data = urllib.parse.urlencode(fields).encode()
    with opener.open(url, data=data, timeout=10) as response:
        return response.geturl()


def test_turning_realtime_off_in_the_dashboard_disconnects_the_page(
    demo_workspace, browser_page
):
    watched = browser_page(demo_workspace.demo_url())
    wait_connected(watched)
    workspace = demo_workspace
    base = demo_workspace.server_url
    settings = f"{base}/workspaces/{workspace.id}/realtime"

    dashboard = _dashboard_session(
        base, workspace.builder_email, workspace.builder_password
    )
    token = _csrf_token(dashboard, settings)
    _post(dashboard, settings, {"enabled": "no", "csrf_token": token})

    expect(watched.page.locator("#status-banner")).to_contain_text("realtime_disabled")
    expect(watched.page.locator("#connection-state")).to_have_text("Disconnected")
    expect(watched.page.locator("#send-button")).to_be_disabled()


# The SDK on its own: scripts run in a page that loaded it (the demo page
# without query values, so the page itself stays unconnected).

# Helpers prepended to every script: wait for a condition, open a client.
SDK_HELPERS = """
const until = (test, what) => new Promise((resolve, reject) => {
  const started = Date.now();
  const poll = () => {
    if (test()) return resolve();
    if (Date.now() - started > 10000) return reject(new Error("waited for " + what));
    setTimeout(poll, 20);
  };
  poll();
});
const open = (extra = {}) => new Realtime.Client({
  apiGroupBaseUrl: args.api, realtimeConnectionHash: args.hash, ...extra,
});
"""


def run_sdk(watched: WatchedPage, workspace, body: str):
    """Run ``body`` (an async function body) with the SDK helpers in scope."""
    script = f"async (args) => {{ {SDK_HELPERS} {body} }}"
    args = {"api": workspace.api_url, "hash": workspace.connection_hash}
    return watched.page.evaluate(script, args)


@pytest.fixture(name="sdk_page")
def sdk_page_fixture(demo_workspace, browser_page) -> WatchedPage:
    watched = browser_page(f"{demo_workspace.server_url}/demo/")
    expect(watched.page.locator("#connection-state")).to_have_text("Not connected")
    return watched


def test_sdk_resumes_missed_messages_after_a_reconnect(demo_workspace, sdk_page):
    received = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const reader = open(), writer = open();
        const readerChannel = reader.channel("marvel-chat-room");
        const writerChannel = writer.channel("marvel-chat-room");
        const got = [], echoed = [];
        readerChannel.on("message", (frame) => got.push(frame.payload));
        writerChannel.on("message", (frame) => echoed.push(frame.payload));
        await until(() => readerChannel.joined && writerChannel.joined, "joins");
        writerChannel.message("one");
        await until(() => got.length === 1, "first message");

        reader.realtimeDisconnect();
        writerChannel.message("two");
        writerChannel.message("three");
        await until(() => echoed.length === 3, "messages stored");
        reader.realtimeReconnect();
        await until(() => got.length === 3, "missed messages");
        return got;
        """,
    )

    assert received == ["one", "two", "three"]
    assert sdk_page.problems() == []


def test_sdk_queues_offline_messages_only_when_asked(demo_workspace, sdk_page):
    result = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const client = open();
        const queued = client.channel("marvel-chat-room", {queueOfflineActions: true});
        const got = [];
        queued.on("message", (frame) => got.push(frame.payload));
        // Not connected yet: the first is kept, the second dropped.
        const kept = queued.message("kept");
        const other = open().channel("marvel-chat-room");
        const dropped = other.message("dropped");
        await until(() => got.length === 1 && other.joined, "queued message");
        return {kept, dropped, got};
        """,
    )

    assert result == {"kept": True, "dropped": False, "got": ["kept"]}


def test_sdk_sends_a_direct_message_to_a_presence_member(demo_workspace, sdk_page):
    result = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const options = {presence: true};
        const alice = open().channel("marvel-chat-room", options);
        const bob = open().channel("marvel-chat-room", options);
        const carol = open().channel("marvel-chat-room", options);
        const got = {bob: [], carol: []};
        bob.on("message", (frame) => got.bob.push(frame));
        carol.on("message", (frame) => got.carol.push(frame));
        await until(() => alice.getPresence().length === 3, "presence");
        const member = alice.getPresence().find((m) => m.socketId === bob.socketId);
        member.message({text: "psst"});
        await until(() => got.bob.length === 1, "direct message");
        return {
          payload: got.bob[0].payload,
          to: got.bob[0].options.socketId,
          bob: bob.socketId,
          carol: got.carol.length,
        };
        """,
    )

    assert result["payload"] == {"text": "psst"}
    assert result["to"] == result["bob"]
    assert result["carol"] == 0


def test_sdk_reports_error_frames_to_the_channel(demo_workspace, sdk_page):
    codes = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const channel = open().channel("no-rule-for-this");
        const viaCallback = [], viaAction = [];
        channel.on(() => {}, (frame) => viaCallback.push(frame.payload.code));
        channel.on("error", (frame) => viaAction.push(frame.payload.code));
        await until(() => viaCallback.length && viaAction.length, "error frame");
        return [viaCallback, viaAction];
        """,
    )

    assert codes == [["channel_not_allowed"], ["channel_not_allowed"]]


def test_sdk_leaves_channels_when_inactive_and_joins_again_on_activity(
    demo_workspace, sdk_page
):
    events = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const client = open({realtimeInactivityTimeout: 300});
        const channel = client.channel("marvel-chat-room", {presence: true});
        const seen = [];
        client.on("idle", () => seen.push(["idle", channel.joined]));
        client.on("active", () => seen.push(["active"]));
        // Stay active until joined, so going idle has a channel to leave.
        const move = () => document.dispatchEvent(new MouseEvent("mousemove"));
        const keepActive = setInterval(move, 50);
        await until(() => channel.getPresence().length === 1, "first join");
        clearInterval(keepActive);
        await until(() => seen.length === 1, "idle");
        await until(() => !channel.joined && client.isConnected(), "channel left");
        move();
        await until(() => channel.getPresence().length === 1, "joined again");
        seen.push(["joined", channel.joined]);
        return seen;
        """,
    )

    assert events == [["idle", True], ["active"], ["joined", True]]


def test_sdk_post_rejects_with_the_api_error_code(demo_workspace, sdk_page):
    error = run_sdk(
        sdk_page,
        demo_workspace,
        """
        const client = open();
        try {
          const body = {email: "nobody@example.com", password: "x"};
          await client.post("/auth/login", body);
        } catch (err) {
          return {isError: err instanceof Error, code: err.code, status: err.status};
        }
        return null;
        """,
    )

    assert error == {"isError": True, "code": "invalid_credentials", "status": 401}


CALLER_MISTAKES = [
    "new Realtime.Client({}).channel('marvel-chat-room')",
    "open().channel(42)",
    "open().channel('')",
    "new Realtime.Client({apiGroupBaseUrl: 'not a url'})",
    "open().channel('marvel-chat-room').message(undefined)",
    "open().setRealtimeAuthToken(42)",
]


def test_sdk_throws_errors_for_caller_mistakes(demo_workspace, sdk_page):
    calls = "".join(
        f"""
        try {{ {call}; outcome.push("nothing thrown"); }} catch (err) {{
          outcome.push(err instanceof Error && err.message.startsWith("[realtime]"));
        }}"""
        for call in CALLER_MISTAKES
    )

    body = f"const outcome = []; {calls} return outcome;"
    outcome = run_sdk(sdk_page, demo_workspace, body)

    assert dict(zip(CALLER_MISTAKES, outcome, strict=True)) == dict.fromkeys(
        CALLER_MISTAKES, True
    )
