"""Tell the realtime server that a workspace's settings changed."""

from __future__ import annotations

from flask import current_app


def workspace_changed(workspace_id: int) -> None:
    """Make connected clients of the workspace see its new settings at once.

    Call it after the change is committed: realtime off, connection hash
    regenerated, a channel rule or limit changed, the workspace deleted.
    """
    engine = current_app.extensions.get("realtime")
    if engine is not None:
        engine.workspace_changed(workspace_id)
