"""Seed a fresh database for benchmarking the real app; print the connection hash.

Run in its own process before the server starts (the app's threading mode, no
eventlet): ``python -m bench.seed <instance path>``. It creates the schema, one
builder and one workspace with generous limits and a nested channel rule
``bench:*`` open to anonymous clients, keeping 100 history entries.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flask_migrate import upgrade

from webapp import create_app
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace

SEED_SECRET_KEY = "benchmark-secret-key"


def seed(instance_path: Path) -> str:
    """Create the schema and the benchmark workspace; return its connection hash."""
    database = instance_path / "webapp.sqlite"
    app = create_app(
        {
            "SECRET_KEY": SEED_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "ASYNC_MODE": "threading",
            "DEMO_DATA": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
        # Without migration scripts upgrade() creates nothing; create_all()
        # then makes the tables, and is a no-op when upgrade() made them.
        db.create_all()
        workspace = _workspace()
        db.session.add(workspace)
        db.session.commit()
        return workspace.connection_hash


def _workspace() -> Workspace:
    builder = Builder(email="bench@example.com")
    builder.set_password("benchmark-password")
    workspace = Workspace(
        owner=builder,
        name="Benchmark",
        realtime_enabled=True,
        realtime_state="ready",
        max_connections=20000,
        max_frame_bytes=64 * 1024,
        frames_per_second=1000,
        idle_timeout_seconds=3600,
    )
    workspace.channel_rules.append(
        ChannelRule(
            name="bench:*",
            nested=True,
            anonymous_allowed=True,
            presence=False,
            history_size=100,
            publish="any",
        )
    )
    return workspace


if __name__ == "__main__":
    print(seed(Path(sys.argv[1])))
