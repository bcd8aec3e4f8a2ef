"""The Procfile's commands, run as written, serve the app."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.live import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.live


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "SECRET_KEY": "procfile-test-secret",
        # The scheme PaaS providers hand out must work as well as SQLite;
        # SQLite keeps this test self-contained.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paas.sqlite'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "LOG_LEVEL": "WARNING",
        "PORT": str(port),
    }


def test_procfile_declares_web_and_release():
    entries = _procfile()

    assert "gunicorn" in entries["web"]
    assert "--worker-class eventlet" in entries["web"]
    assert "--workers 1" in entries["web"]
    assert "$PORT" in entries["web"]
    assert "db upgrade" in entries["release"]


def test_release_then_web_serve_pages(tmp_path):
    port = free_port()
    env = {**os.environ, **_env(tmp_path, port)}
    release = subprocess.run(
        _procfile()["release"],
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0, release.stderr

    server = ServerProcess(
        tmp_path / "instance",
        env=_env(tmp_path, port),
        command=["honcho", "start", "--port", str(port), "web"],
        port=port,
    )
    server.env["PATH"] = _env(tmp_path, port)["PATH"]
    server.start(timeout=60)
    try:
        with urllib.request.urlopen(server.url + "/auth/login", timeout=5) as page:
            body = page.read().decode()
            status = page.status
    finally:
        server.stop()

    assert status == 200
    assert "Log in" in body
    # Demo data is for `python app.py`; the web command never creates it.
    with sqlite3.connect(tmp_path / "paas.sqlite") as connection:
        (builders,) = connection.execute("SELECT count(*) FROM builders").fetchone()
    assert builders == 0
