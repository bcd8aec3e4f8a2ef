"""Bringing a workspace's Realtime up: check the backend, record the outcome."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, update

from webapp import notify
from webapp.backends import BackendUnavailableError
from webapp.extensions import db, socketio
from webapp.models import Workspace

logger = logging.getLogger(__name__)


def provision_now(workspace: Workspace) -> str | None:
    """Check the realtime backend and move the workspace out of "provisioning".

    The workspace ends "ready", or "error" with the reason in
    ``realtime_state_detail``. A workspace that is no longer waiting (the
    builder switched Realtime off meanwhile) is left as it is. Returns the
    workspace's state afterwards, None when it was deleted meanwhile.
    """
    workspace_id = workspace.id
    try:
        current_app.extensions["realtime_backend"].check()
    except BackendUnavailableError as exc:
        state, detail = "error", str(exc)[:255]
    else:
        state, detail = "ready", ""

    # A conditional update, not an attribute change: the builder may have
    # switched Realtime off while the backend was being checked, and that
    # newer decision must win.
    result = db.session.execute(
        update(Workspace)
        .where(
            Workspace.id == workspace_id,
            Workspace.realtime_enabled.is_(True),
            Workspace.realtime_state == "provisioning",
        )
        .values(
            realtime_state=state,
            realtime_state_detail=detail,
            settings_version=Workspace.settings_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount:
        _log_outcome(workspace_id, state)
        notify.workspace_changed(workspace_id)

    return db.session.scalar(
        select(Workspace.realtime_state).where(Workspace.id == workspace_id)
    )


def _log_outcome(workspace_id: int, state: str) -> None:
    if state == "ready":
        logger.info("workspace %s: realtime ready", workspace_id)
    else:
        logger.error(
            "workspace %s: realtime backend unavailable while provisioning",
            workspace_id,
        )


def start_provisioning(app: Flask, workspace_id: int) -> Any:
    """Run :func:`provision_now` for the workspace in a background task.

    Returns the task, which has a ``join()`` method. If the task fails
    unexpectedly (the database went away), the workspace stays in
    "provisioning" until the builder saves "Yes" again, which retries.
    """
    return socketio.start_background_task(_provision_task, app, workspace_id)


def _provision_task(app: Flask, workspace_id: int) -> None:
    with app.app_context():
        # The task's outermost frame: nothing above it would report an error.
        try:
            workspace = db.session.get(Workspace, workspace_id)
            if workspace is not None:
                provision_now(workspace)
        except Exception:
            logger.exception("workspace %s: provisioning failed", workspace_id)
