"""Playwright fixtures driving Debian's chromium, for tests of pages in a browser.

``tests/conftest.py`` imports the browser fixtures, so that every module
shares the one chromium of the session; tests ask for them as ``browser`` and
``browser_page``. Every page opened through
``browser_page`` records its console errors, uncaught exceptions and
Content-Security-Policy violations, so a test can assert that none happened.
``realtime_server`` is a live server whose database holds a builder and a pool
of Realtime-enabled workspaces; ``demo_workspace`` hands each test its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.live import ROOT, ServerProcess
from tests.services import require_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Waits for what a page shows; generous, since a busy CI machine is slow.
DEFAULT_TIMEOUT_MS = 15_000

# Reports every CSP violation to the test, whatever the page's own scripts do.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`
  );
});
"""


@dataclass
class WatchedPage:
    """A browser page plus what went wrong on it."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def problems(self, ignore: tuple[str, ...] = ()) -> list[str]:
        """Return every recorded problem whose text contains none of ``ignore``."""
        found = [
            *(f"console: {text}" for text in self.console_errors),
            *(f"exception: {text}" for text in self.page_errors),
            *(f"csp: {text}" for text in self.csp_violations),
        ]
        return [text for text in found if not any(part in text for part in ignore)]


class PageOpener:
    """Open watched pages, each in a browser context of its own."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self._contexts: list[Any] = []

    def __call__(self, url: str | None = None) -> WatchedPage:
        """Open a fresh page (own cookies and storage), at ``url`` if given."""
        context = self._browser.new_context()
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        self._contexts.append(context)
        page = context.new_page()
        watched = WatchedPage(page)
        page.on("console", lambda msg: _record_console(watched, msg))
        page.on("pageerror", lambda exc: watched.page_errors.append(str(exc)))
        page.expose_function(
            "__reportCspViolation", lambda text: watched.csp_violations.append(text)
        )
        page.add_init_script(_CSP_LISTENER)
        if url is not None:
            page.goto(url)
        return watched

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()


def _record_console(watched: WatchedPage, message: Any) -> None:
    if message.type == "error":
        watched.console_errors.append(message.text)
    # Chromium reports CSP refusals on the console as well; the listener
    # catches the ones it can see, this catches the rest.
    if "Content Security Policy" in message.text:
        watched.csp_violations.append(message.text)


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Any]:
    """A headless chromium for the whole test session."""
    require_service(os.path.exists(CHROMIUM), f"{CHROMIUM} is not installed")
    require_service(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is not installed",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture(name="browser_page")
def browser_page_fixture(browser) -> Iterator[PageOpener]:
    """Open watched pages: ``browser_page(url)`` returns a ``WatchedPage``."""
    opener = PageOpener(browser)
    yield opener
    opener.close()


def expect(target: Any) -> Any:
    """Return Playwright's auto-waiting assertions for ``target``."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    return playwright_expect(target)


# A live server with a seeded database.

DEMO_CHANNEL = "marvel-chat-room"
BUILDER_EMAIL = "builder@example.com"
BUILDER_PASSWORD = "correct horse battery"
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": DEMO_CHANNEL,
        "presence": True,
        "history_size": 100,
        "publish": "any",
        "direct": "any",
    },
)
# Workspaces seeded per server: one per test, so tests never share a channel.
WORKSPACE_POOL_SIZE = 16
# Workspaces without any channel rule, for tests of refused joins.
BARE_POOL_SIZE = 4


@dataclass(frozen=True)
class SeededWorkspace:
    """A Realtime-enabled workspace seeded in a live server's database."""

    id: int
    connection_hash: str
    api_group_key: str
    server_url: str
    builder_email: str = BUILDER_EMAIL
    builder_password: str = BUILDER_PASSWORD

    @property
    def api_url(self) -> str:
        """The workspace's API group base URL."""
        return f"{self.server_url}/api:{self.api_group_key}"

    def demo_url(self, connection_hash: str | None = None) -> str:
        """The demo page, prefilled as the dashboard links to it."""
        query = urlencode(
            {"api": self.api_url, "hash": connection_hash or self.connection_hash}
        )
        return f"{self.server_url}/demo/?{query}"


def seed_database(
    database_url: str, rule_sets: Sequence[Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """Migrate a fresh database; add a builder owning one workspace per rule set.

    Each workspace has Realtime on and the channel rules of its set. It runs
    in a child process: Alembic's environment reconfigures logging, which
    must not leak into the test process.
    """
    code = "import sys, tests.browser as b; b._seed_from_stdin(sys.argv[1])"
    result = subprocess.run(
        [sys.executable, "-c", code, database_url],
        cwd=ROOT,
        input=json.dumps([list(rules) for rules in rule_sets]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"seeding the database failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _seed_from_stdin(database_url: str) -> None:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import TEST_OVERRIDES
    from webapp.extensions import db
    from webapp.models import Builder, ChannelRule, Workspace

    rule_sets = json.load(sys.stdin)
    app = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        # Without migration scripts, upgrade() creates nothing: the models
        # then define the schema (and the server's own upgrade is a no-op).
        db.create_all()
        builder = Builder(email=BUILDER_EMAIL)
        builder.set_password(BUILDER_PASSWORD)
        workspaces = [
            Workspace(
                owner=builder,
                name=f"Marvel {number}",
                realtime_enabled=True,
                realtime_state="ready",
                channel_rules=[ChannelRule(**rule) for rule in rules],
            )
            for number, rules in enumerate(rule_sets, start=1)
        ]
        db.session.add(builder)
        db.session.commit()
        seeded = [
            {
                "id": workspace.id,
                "connection_hash": workspace.connection_hash,
                "api_group_key": workspace.api_group_key,
            }
            for workspace in workspaces
        ]
    print(json.dumps(seeded))


class RealtimeServer:
    """A live server process whose database holds pools of fresh workspaces."""

    def __init__(
        self,
        instance_path: Path,
        rules: Sequence[Mapping[str, Any]] = DEFAULT_RULES,
        pool_size: int = WORKSPACE_POOL_SIZE,
    ) -> None:
        instance_path.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance_path / 'webapp.sqlite'}"
        env = {"DATABASE_URL": database_url, "REDIS_URL": ""}
        self.server = ServerProcess(instance_path, env=env)

        rule_sets = [rules] * pool_size + [()] * BARE_POOL_SIZE
        seeded = [
            SeededWorkspace(server_url=self.server.url, **fields)
            for fields in seed_database(database_url, rule_sets)
        ]
        self._unused = {True: seeded[:pool_size], False: seeded[pool_size:]}

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> RealtimeServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def take_workspace(self, ruled: bool = True) -> SeededWorkspace:
        """Return a workspace no test has used yet; without rules if not ``ruled``."""
        pool = self._unused[ruled]
        if not pool:
            raise RuntimeError("workspace pool used up: make it larger")
        return pool.pop(0)


@pytest.fixture(scope="module", name="realtime_server")
def realtime_server_fixture(tmp_path_factory) -> Iterator[RealtimeServer]:
    """One live server per test module, its workspaces ruled for the demo channel."""
    running = RealtimeServer(tmp_path_factory.mktemp("instance")).start()
    yield running
    running.stop()


@pytest.fixture(name="demo_workspace")
def demo_workspace_fixture(realtime_server) -> Iterator[SeededWorkspace]:
    """A fresh workspace of ``realtime_server``, for this test alone."""
    yield realtime_server.take_workspace()
    # Shown by pytest only when the test failed.
    print(realtime_server.server.log())


@pytest.fixture(name="bare_workspace")
def bare_workspace_fixture(realtime_server) -> SeededWorkspace:
    """A fresh workspace of ``realtime_server`` without any channel rule."""
    return realtime_server.take_workspace(ruled=False)
