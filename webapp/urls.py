"""Public addresses of a workspace."""

from __future__ import annotations

from flask import current_app

from webapp.models import Workspace


def api_group_base_url(workspace: Workspace, base_url: str | None = None) -> str:
    """Return the workspace's API group base URL, ``<base>/api:<key>``.

    ``base_url`` defaults to the ``PUBLIC_BASE_URL`` setting; pages pass the
    address the builder is using (``request.url_root``).
    """
    base = (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/api:{workspace.api_group_key}"
