"""Demo data: a builder, a workspace and a channel rule to try the service with.

Created only on a database without any builder, so a real installation is
never touched.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp.cli import new_workspace
from webapp.extensions import db
from webapp.models import Builder, ChannelRule
from webapp.urls import api_group_base_url

logger = logging.getLogger(__name__)

DEMO_EMAIL = "demo@example.com"
DEFAULT_DEMO_PASSWORD = "realtime-demo"
DEMO_CHANNEL = "marvel-chat-room"
_TABLES = ("builders", "workspaces", "channel_rules")


def ensure_demo_data(app: Flask) -> None:
    """Create the demo builder and workspace when the database has no builder.

    The password comes from ``DEMO_PASSWORD`` (default ``realtime-demo``);
    it is logged only when it is that documented default.
    """
    with app.app_context():
        if not _tables_exist():
            return
        if db.session.scalar(select(func.count(Builder.id))):
            return

        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        builder = Builder(email=DEMO_EMAIL)
        builder.set_password(password)
        workspace = new_workspace(builder, "Demo", realtime=True)
        workspace.channel_rules.append(_demo_rule())
        db.session.add(workspace)
        try:
            db.session.commit()
        except IntegrityError:
            # Another process starting at the same moment created it first.
            db.session.rollback()
            return

        shown = (
            password if password == DEFAULT_DEMO_PASSWORD else "(from DEMO_PASSWORD)"
        )
        logger.info(
            "demo data created: log in as %s with password %s; API group %s; "
            "connection hash %s; realtime %s",
            DEMO_EMAIL,
            shown,
            api_group_base_url(workspace),
            workspace.connection_hash,
            workspace.realtime_state,
        )


def _tables_exist() -> bool:
    try:
        existing = set(inspect(db.engine).get_table_names())
    except OperationalError as exc:
        logger.warning(
            "demo data skipped: database unavailable (%s)", type(exc.orig).__name__
        )
        return False
    if not existing.issuperset(_TABLES):
        logger.warning("demo data skipped: the database tables do not exist yet")
        return False
    return True


def _demo_rule() -> ChannelRule:
    return ChannelRule(
        name=DEMO_CHANNEL,
        anonymous_allowed=True,
        presence=True,
        history_size=100,
        publish="any",
        direct="any",
        receive="everyone",
    )
