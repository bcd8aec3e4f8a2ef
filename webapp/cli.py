"""Operators' ``flask`` commands: create builders, create and list workspaces."""

from __future__ import annotations

import json

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.backends import BackendUnavailableError
from webapp.extensions import db
from webapp.models import (
    HISTORY_SIZES,
    PASSWORD_MIN_LENGTH,
    Builder,
    ChannelRule,
    Workspace,
)
from webapp.realtime.channels import rule_name_problem
from webapp.urls import api_group_base_url

MAX_WORKSPACE_NAME_LENGTH = 80

builder_cli = AppGroup("builder", help="Manage builders (dashboard accounts).")
workspace_cli = AppGroup("workspace", help="Manage workspaces.")


def register(app: Flask) -> None:
    """Register the command groups on ``app``."""
    app.cli.add_command(builder_cli)
    app.cli.add_command(workspace_cli)


def normalize_email(raw: str) -> str:
    """Return ``raw`` as a valid, lower-case email address.

    :raises ValueError: when it is not a valid address.
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValueError(f"{raw!r} is not a valid email address.") from None
    return result.normalized.lower()


def set_realtime(workspace: Workspace, enabled: bool) -> None:
    """Switch Realtime on or off, checking the backend when switching on."""
    workspace.realtime_enabled = enabled
    workspace.realtime_state_detail = ""
    if not enabled:
        workspace.realtime_state = "off"
        return

    try:
        current_app.extensions["realtime_backend"].check()
    except BackendUnavailableError as exc:
        workspace.realtime_state = "error"
        workspace.realtime_state_detail = str(exc)[:255]
        return
    workspace.realtime_state = "ready"


def new_workspace(owner: Builder, name: str, realtime: bool) -> Workspace:
    """Return a new workspace of ``owner`` with the configured default limits."""
    config = current_app.config
    workspace = Workspace(
        owner=owner,
        name=name,
        max_connections=config["DEFAULT_MAX_CONNECTIONS"],
        max_frame_bytes=config["DEFAULT_MAX_FRAME_BYTES"],
        frames_per_second=config["DEFAULT_FRAMES_PER_SECOND"],
        idle_timeout_seconds=config["DEFAULT_IDLE_TIMEOUT_SECONDS"],
    )
    set_realtime(workspace, realtime)
    return workspace


@builder_cli.command("create")
@click.argument("email")
@click.password_option(help="At least 8 characters; prompted for when omitted.")
def create_builder(email: str, password: str) -> None:
    """Create a builder who can log in to the dashboard."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    if len(password) < PASSWORD_MIN_LENGTH:
        raise click.BadParameter(
            f"must be at least {PASSWORD_MIN_LENGTH} characters.",
            param_hint="--password",
        )

    builder = Builder(email=email)
    builder.set_password(password)
    db.session.add(builder)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(f"A builder with email {email} exists.") from None
    click.echo(f"Created builder {builder.id} ({email}).")


def _channel_rule(
    name: str, nested: bool, presence: bool, history: int, auth_only: bool
) -> ChannelRule:
    problem = rule_name_problem(name)
    if problem is None and nested and ("*" in name[:-1] or not name.endswith("*")):
        problem = "A nested channel rule ends in '*' and has no other '*'."
    if problem is None and not nested and "*" in name:
        problem = "Only a nested channel rule (--nested) may use '*'."
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--channel")
    return ChannelRule(
        name=name,
        nested=nested,
        presence=presence,
        history_size=history,
        anonymous_allowed=not auth_only,
    )


@workspace_cli.command("create")
@click.argument("name")
@click.option("--owner", required=True, help="Email of the builder who owns it.")
@click.option("--realtime/--no-realtime", default=False, help="Switch Realtime on.")
@click.option("--channel", help="Add a channel rule with this name.")
@click.option("--nested", is_flag=True, help="The rule is a prefix ending in '*'.")
@click.option("--presence", is_flag=True, help="The rule allows presence.")
@click.option(
    "--history",
    type=click.Choice([str(size) for size in HISTORY_SIZES]),
    default="0",
    help="History entries the rule keeps.",
)
@click.option("--auth-only", is_flag=True, help="Only authenticated clients.")
def create_workspace(
    name: str,
    owner: str,
    realtime: bool,
    channel: str | None,
    nested: bool,
    presence: bool,
    history: str,
    auth_only: bool,
) -> None:
    """Create a workspace and print its addresses and server API key."""
    name = name.strip()
    if not name or len(name) > MAX_WORKSPACE_NAME_LENGTH:
        raise click.BadParameter(
            f"must be 1 to {MAX_WORKSPACE_NAME_LENGTH} characters.", param_hint="NAME"
        )
    if channel is None and (nested or presence or auth_only or history != "0"):
        raise click.UsageError(
            "--nested, --presence, --history, --auth-only need --channel."
        )
    rule = None
    if channel is not None:
        rule = _channel_rule(channel, nested, presence, int(history), auth_only)
    builder = _builder_by_email(owner)

    workspace = new_workspace(builder, name, realtime)
    server_key = workspace.rotate_server_key()
    if rule is not None:
        workspace.channel_rules.append(rule)
    db.session.add(workspace)
    db.session.commit()

    click.echo(f"Workspace:       {workspace.id} ({workspace.name})")
    click.echo(f"Realtime:        {workspace.realtime_state}")
    if workspace.realtime_state_detail:
        click.echo(f"Realtime detail: {workspace.realtime_state_detail}")
    click.echo(f"Connection hash: {workspace.connection_hash}")
    click.echo(f"API group URL:   {api_group_base_url(workspace)}")
    click.echo(f"Server API key:  {server_key}")
    click.echo("The server API key is shown only once: store it now.")


def _builder_by_email(raw: str) -> Builder:
    try:
        email = normalize_email(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--owner") from None
    builder = db.session.scalar(select(Builder).filter_by(email=email))
    if builder is None:
        raise click.ClickException(f"No builder has the email {email}.")
    return builder


@workspace_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_workspaces(as_json: bool) -> None:
    """List every workspace with its owner and addresses."""
    workspaces = db.session.scalars(select(Workspace).order_by(Workspace.id)).all()
    rows = [
        {
            "id": workspace.id,
            "name": workspace.name,
            "owner": workspace.owner.email,
            "realtime_enabled": workspace.realtime_enabled,
            "connection_hash": workspace.connection_hash,
            "api_group_base_url": api_group_base_url(workspace),
        }
        for workspace in workspaces
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    if not rows:
        click.echo("No workspaces.")
        return
    click.echo(_table(rows))


def _table(rows: list[dict[str, object]]) -> str:
    headers = list(rows[0])
    cells = [[str(row[key]) for key in headers] for row in rows]
    widths = [
        max(len(header), *(len(line[index]) for line in cells))
        for index, header in enumerate(headers)
    ]
    lines = [headers, ["-" * width for width in widths], *cells]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )
