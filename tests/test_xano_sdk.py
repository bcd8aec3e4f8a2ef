"""The hosted service's JavaScript SDK (``@xano/js-sdk``) against a live server.

``tests/node/sdk_scenario.js`` drives real SDK clients, one Node process per
user, over the plain WebSocket transport and prints one JSON line per check;
this module starts the server, seeds a workspace, runs the script and fails
with everything it printed when a check fails. The Node packages come from
``npm ci --prefix tests/node``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import ROOT
from tests.services import require_service
from tests.test_socketio_rt import Live, Seeded, run_live

pytestmark = pytest.mark.live

NODE = shutil.which("node")
NODE_DIR = ROOT / "tests" / "node"
SCENARIO = NODE_DIR / "sdk_scenario.js"
SDK_MANIFEST = NODE_DIR / "node_modules" / "@xano" / "js-sdk" / "package.json"
CHANNEL = "chat"
RULES = ({"name": CHANNEL, "presence": True, "history_size": 10, "direct": "any"},)
END_USER_ID = 42
END_USER_NAME = "Ann"
# The script stops itself after 25 s; this bound only catches a hung Node.
NODE_TIMEOUT_SECONDS = 60
# Every check of sdk_scenario.js, in the order it runs them.
EXPECTED_CHECKS = [
    "sdk_opens_the_hosted_url_without_subprotocol",
    "join_frame_names_the_joiner",
    "presence_full_lists_the_joiner_itself",
    "history_frame_follows_the_join_frame",
    "token_travels_as_the_selected_subprotocol",
    "authenticated_client_carries_its_end_user",
    "presence_full_lists_every_member",
    "members_see_the_new_member_join",
    "message_reaches_every_member_with_its_sender",
    "direct_message_reaches_only_its_target",
    "members_see_a_leaving_member_leave",
    "sdk_raised_connected_once_and_joined_once",
    "unknown_hash_gets_invalid_hash_then_close_1008",
    "unknown_hash_is_not_retried",
]


def require_node() -> None:
    """Skip (or fail, where services are required) without Node and the SDK."""
    require_service(NODE is not None, "node is not installed")
    require_service(
        SDK_MANIFEST.exists(),
        "the SDK is not installed: run npm ci --prefix tests/node",
    )


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request, tmp_path_factory) -> Iterator[Live]:
    """One server process per backend for the whole module."""
    require_node()
    yield from run_live(request.param, tmp_path_factory)


def run_scenario(live: Live, workspace: Seeded, token: str) -> tuple[int, str, str]:
    """Run sdk_scenario.js against ``workspace``; return status, stdout, stderr."""
    env = {
        **os.environ,
        "SDK_TEST_PORT": str(live.server.port),
        "SDK_TEST_HASH": workspace.connection_hash,
        "SDK_TEST_CHANNEL": CHANNEL,
        "SDK_TEST_TOKEN": token,
        "SDK_TEST_END_USER_ID": str(END_USER_ID),
        "SDK_TEST_END_USER_NAME": END_USER_NAME,
    }
    try:
        result = subprocess.run(
            [NODE, str(SCENARIO)],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        return -1, _text(timeout.stdout), _text(timeout.stderr)
    return result.returncode, result.stdout, result.stderr


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def parse_lines(stdout: str) -> list[dict[str, Any]]:
    """Return the script's JSON lines; anything else fails the test."""
    lines = []
    for text in stdout.splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            pytest.fail(f"sdk_scenario.js printed a line that is not JSON: {text!r}")
    return lines


def test_installed_sdk_is_version_3():
    require_node()
    version = json.loads(SDK_MANIFEST.read_text())["version"]
    assert version.split(".")[0] == "3", version


def test_hosted_sdk_chats_over_plain_websocket(live):
    workspace = live.seeder.workspace(*RULES)
    token = live.seeder.token(workspace, END_USER_ID, END_USER_NAME)

    status, stdout, stderr = run_scenario(live, workspace, token)

    lines = parse_lines(stdout)
    passed = [line["check"] for line in lines if line.get("ok") is True]
    summary = [line for line in lines if "summary" in line]
    if status != 0 or summary != [{"summary": "pass", "checks": passed}]:
        pytest.fail(
            f"sdk_scenario.js exited with {status}\n"
            f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
            f"--- server log\n{live.server.log()}"
        )
    assert passed == EXPECTED_CHECKS
