"""The Realtime Settings panel: switch, connection hash, keys, channel rules, limits."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import notify
from webapp.blueprints.dashboard import (
    MAX_ID,
    bp,
    commit_change,
    own_workspace,
    show_server_key,
)
from webapp.extensions import db
from webapp.forms.dashboard import (
    ChannelRuleForm,
    ConfirmForm,
    LimitsForm,
    RealtimeForm,
)
from webapp.models import ChannelRule, Workspace
from webapp.provisioning import start_provisioning
from webapp.urls import api_group_base_url

logger = logging.getLogger(__name__)

_DUPLICATE_RULE = "This workspace already has a channel rule with that name."


def _own_rule(workspace: Workspace, rule_id: int) -> ChannelRule:
    if rule_id > MAX_ID:
        abort(404)
    rule = db.session.scalar(
        select(ChannelRule).where(
            ChannelRule.id == rule_id, ChannelRule.workspace_id == workspace.id
        )
    )
    if rule is None:
        abort(404)
    return rule


def _to_realtime(workspace: Workspace, anchor: str = ""):
    url = url_for(".realtime", workspace_id=workspace.id)
    return redirect(f"{url}#{anchor}" if anchor else url)


@bp.get("/workspaces/<int:workspace_id>/realtime")
@login_required
def realtime(workspace_id: int):
    return _render_realtime(own_workspace(workspace_id))


def _render_realtime(workspace: Workspace, **forms: Any) -> str:
    enabled = "yes" if workspace.realtime_enabled else "no"
    defaults = {
        "realtime_form": lambda: RealtimeForm(formdata=None, enabled=enabled),
        "hash_form": lambda: ConfirmForm(formdata=None, prefix="hash"),
        "key_form": lambda: ConfirmForm(formdata=None, prefix="key"),
        "rule_form": lambda: ChannelRuleForm(formdata=None),
        "limits_form": lambda: LimitsForm(formdata=None, obj=workspace),
    }
    for name, make_form in defaults.items():
        if name not in forms:
            forms[name] = make_form()

    api_url = api_group_base_url(workspace, request.url_root)
    return render_template(
        "dashboard/realtime.html",
        workspace=workspace,
        api_url=api_url,
        demo_url=url_for("demo.index", api=api_url, hash=workspace.connection_hash),
        stats=_connected_now(workspace.id),
        **forms,
    )


def _connected_now(workspace_id: int) -> dict[str, Any] | None:
    """Return the realtime server's live counts, None when none runs here."""
    engine = current_app.extensions.get("realtime")
    workspace_stats = getattr(engine, "workspace_stats", None)
    if workspace_stats is None:
        return None
    return workspace_stats(workspace_id)


@bp.post("/workspaces/<int:workspace_id>/realtime")
@login_required
def save_realtime(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = RealtimeForm()
    if not form.validate_on_submit():
        return _render_realtime(workspace, realtime_form=form)

    if form.enabled.data == "yes":
        _enable_realtime(workspace)
    else:
        _disable_realtime(workspace)

    return _to_realtime(workspace)


def _enable_realtime(workspace: Workspace) -> None:
    if workspace.realtime_enabled and workspace.realtime_state == "ready":
        flash("Realtime is already enabled.", "info")
        return

    # Every switch-on (and every retry after an error) checks the backend
    # again: it may have gone away since the workspace last used it.
    workspace.realtime_enabled = True
    workspace.realtime_state = "provisioning"
    workspace.realtime_state_detail = ""
    commit_change(workspace)
    start_provisioning(current_app._get_current_object(), workspace.id)
    logger.info("workspace %s: realtime provisioning", workspace.id)
    flash("Realtime is being provisioned; this page shows when it is ready.", "info")


def _disable_realtime(workspace: Workspace) -> None:
    if not workspace.realtime_enabled:
        flash("Realtime is already off.", "info")
        return

    workspace.realtime_enabled = False
    workspace.realtime_state = "off"
    workspace.realtime_state_detail = ""
    commit_change(workspace)
    logger.info("workspace %s: realtime off", workspace.id)
    flash("Realtime is off; connected clients were disconnected.", "success")


@bp.get("/workspaces/<int:workspace_id>/realtime/status")
@login_required
def realtime_status(workspace_id: int):
    workspace = own_workspace(workspace_id)
    return jsonify(
        enabled=workspace.realtime_enabled,
        state=workspace.realtime_state,
        detail=workspace.realtime_state_detail,
    )


@bp.post("/workspaces/<int:workspace_id>/realtime/hash")
@login_required
def regenerate_hash(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = ConfirmForm(prefix="hash")
    if not form.validate_on_submit():
        return _render_realtime(workspace, hash_form=form)

    workspace.regenerate_connection_hash()
    commit_change(workspace, bump=False)
    logger.info("workspace %s: connection hash regenerated", workspace.id)
    flash(
        "New connection hash: clients using the old one were disconnected.", "success"
    )

    return _to_realtime(workspace, "connection")


@bp.post("/workspaces/<int:workspace_id>/server-key")
@login_required
def rotate_server_key(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = ConfirmForm(prefix="key")
    if not form.validate_on_submit():
        return _render_realtime(workspace, key_form=form)

    server_key = workspace.rotate_server_key()
    db.session.commit()
    logger.info("workspace %s: server API key rotated", workspace.id)

    return show_server_key(workspace, server_key, created=False)


@bp.post("/workspaces/<int:workspace_id>/realtime/limits")
@login_required
def save_limits(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = LimitsForm()
    if not form.validate_on_submit():
        return _render_realtime(workspace, limits_form=form)

    form.copy_to(workspace)
    commit_change(workspace)
    flash("Limits saved.", "success")

    return _to_realtime(workspace, "limits")


@bp.post("/workspaces/<int:workspace_id>/realtime/rules")
@login_required
def add_rule(workspace_id: int):
    workspace = own_workspace(workspace_id)
    form = ChannelRuleForm()
    rule = ChannelRule(workspace_id=workspace.id)
    if not _save_rule(workspace, rule, form):
        return _render_realtime(workspace, rule_form=form)

    flash(f"Channel rule {rule.name} added.", "success")
    return _to_realtime(workspace, "channel-rules")


@bp.route(
    "/workspaces/<int:workspace_id>/realtime/rules/<int:rule_id>",
    methods=["GET", "POST"],
)
@login_required
def edit_rule(workspace_id: int, rule_id: int):
    workspace = own_workspace(workspace_id)
    rule = _own_rule(workspace, rule_id)
    form = ChannelRuleForm(obj=rule)
    if form.is_submitted() and _save_rule(workspace, rule, form):
        flash(f"Channel rule {rule.name} saved.", "success")
        return _to_realtime(workspace, "channel-rules")

    return render_template(
        "dashboard/rule_edit.html", workspace=workspace, rule=rule, form=form
    )


def _save_rule(workspace: Workspace, rule: ChannelRule, form: ChannelRuleForm) -> bool:
    """Validate and store a channel rule; False leaves the errors on ``form``."""
    if not form.validate_on_submit():
        return False
    same_name = select(ChannelRule.id).where(
        ChannelRule.workspace_id == workspace.id, ChannelRule.name == form.name.data
    )
    if rule.id is not None:
        same_name = same_name.where(ChannelRule.id != rule.id)
    if db.session.scalar(same_name) is not None:
        form.name.errors.append(_DUPLICATE_RULE)
        return False

    form.copy_to(rule)
    db.session.add(rule)
    workspace.settings_version += 1
    try:
        db.session.commit()
    except IntegrityError:
        # Another request stored the same name between the check and here.
        db.session.rollback()
        form.name.errors.append(_DUPLICATE_RULE)
        return False
    notify.workspace_changed(workspace.id)
    logger.info("workspace %s: channel rule %s saved", workspace.id, rule.id)

    return True


@bp.post("/workspaces/<int:workspace_id>/realtime/rules/<int:rule_id>/delete")
@login_required
def delete_rule(workspace_id: int, rule_id: int):
    workspace = own_workspace(workspace_id)
    rule = _own_rule(workspace, rule_id)
    name = rule.name
    db.session.delete(rule)
    commit_change(workspace)
    logger.info("workspace %s: channel rule %s deleted", workspace.id, rule_id)
    flash(f"Channel rule {name} deleted.", "success")

    return _to_realtime(workspace, "channel-rules")
