"""The builder's dashboard: the list of workspaces and each workspace's page.

The Realtime Settings panel lives in ``realtime_settings``, on the same blueprint.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import notify
from webapp.extensions import db
from webapp.forms.dashboard import DeleteWorkspaceForm, WorkspaceForm
from webapp.models import Workspace

logger = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)

# Ids are 32-bit integer columns: a larger number in a URL names nothing, and
# the databases refuse to even compare with it.
MAX_ID = 2**31 - 1


def own_workspace(workspace_id: int) -> Workspace:
    """Return the current builder's workspace, or answer 404 for any other."""
    if workspace_id > MAX_ID:
        abort(404)
    workspace = db.session.scalar(
        select(Workspace).where(
            Workspace.id == workspace_id, Workspace.owner_id == current_user.id
        )
    )
    if workspace is None:
        abort(404)
    return workspace


def commit_change(workspace: Workspace, bump: bool = True) -> None:
    """Commit a change connected clients must notice, then tell the server."""
    if bump:
        workspace.settings_version += 1
    db.session.commit()
    notify.workspace_changed(workspace.id)


@bp.get("/")
@login_required
def index():
    return _render_index(WorkspaceForm())


def _render_index(form: WorkspaceForm) -> str:
    workspaces = db.session.scalars(
        select(Workspace)
        .where(Workspace.owner_id == current_user.id)
        .order_by(Workspace.id)
    ).all()
    return render_template("dashboard/index.html", workspaces=workspaces, form=form)


@bp.post("/workspaces")
@login_required
def create_workspace():
    form = WorkspaceForm()
    if not form.validate_on_submit():
        return _render_index(form)

    config = current_app.config
    workspace = Workspace(
        owner_id=current_user.id,
        name=form.name.data,
        max_connections=config["DEFAULT_MAX_CONNECTIONS"],
        max_frame_bytes=config["DEFAULT_MAX_FRAME_BYTES"],
        frames_per_second=config["DEFAULT_FRAMES_PER_SECOND"],
        idle_timeout_seconds=config["DEFAULT_IDLE_TIMEOUT_SECONDS"],
    )
    server_key = workspace.rotate_server_key()
    db.session.add(workspace)
    db.session.commit()
    logger.info("builder %s created workspace %s", current_user.id, workspace.id)

    return show_server_key(workspace, server_key, created=True)


def show_server_key(workspace: Workspace, server_key: str, created: bool):
    """Answer with the one page that ever shows this server API key."""
    # The key goes straight into this one response, never into a flash
    # message: the session cookie is signed, not encrypted, so a flashed key
    # would sit readable in the browser's cookie jar.
    # Limitation: as the page answers the POST itself, reloading it submits
    # the form again (the browser asks first), which creates another
    # workspace or rotates the key once more.
    response = make_response(
        render_template(
            "dashboard/server_key.html",
            workspace=workspace,
            server_key=server_key,
            created=created,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/workspaces/<int:workspace_id>")
@login_required
def workspace(workspace_id: int):
    return _render_workspace(own_workspace(workspace_id))


def _render_workspace(workspace: Workspace, **forms: Any) -> str:
    if "rename_form" not in forms:
        forms["rename_form"] = WorkspaceForm(formdata=None, obj=workspace)
    if "delete_form" not in forms:
        forms["delete_form"] = DeleteWorkspaceForm(formdata=None)
    return render_template("dashboard/workspace.html", workspace=workspace, **forms)


@bp.post("/workspaces/<int:workspace_id>/rename")
@login_required
def rename_workspace(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = WorkspaceForm()
    if not form.validate_on_submit():
        return _render_workspace(workspace, rename_form=form)

    workspace.name = form.name.data
    db.session.commit()
    flash("Workspace renamed.", "success")

    return redirect(url_for(".workspace", workspace_id=workspace.id))


@bp.post("/workspaces/<int:workspace_id>/delete")
@login_required
def delete_workspace(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = DeleteWorkspaceForm()
    if not form.validate_on_submit():
        return _render_workspace(workspace, delete_form=form)
    if form.confirm_name.data != workspace.name:
        form.confirm_name.errors.append("That is not this workspace's name.")
        return _render_workspace(workspace, delete_form=form)

    name = workspace.name
    db.session.delete(workspace)
    db.session.commit()
    notify.workspace_changed(workspace_id)
    logger.info("builder %s deleted workspace %s", current_user.id, workspace_id)
    flash(f"Workspace {name} deleted.", "success")

    return redirect(url_for(".index"))


# Imported last: that module adds its views to ``bp`` and uses the helpers above.
from webapp.blueprints import realtime_settings  # noqa: E402, F401
