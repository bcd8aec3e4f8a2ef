"""The Flask side of the engine's settings: snapshots from models, token checks."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Workspace
from webapp.realtime.admission import TokenVerifier
from webapp.realtime.rules import ChannelRule, Limits, WorkspaceSnapshot
from webapp.realtime.settings import LoadByHash, LoadById
from webapp.tokens import InvalidTokenError, TokenClaims, verify_token


def snapshot_of(workspace: Workspace) -> WorkspaceSnapshot:
    """Return the realtime snapshot of a workspace row and its channel rules.

    Clients are admitted only once Realtime is on and provisioned ("ready").
    """
    rules = tuple(
        ChannelRule(
            name=rule.name,
            nested=rule.nested,
            anonymous_allowed=rule.anonymous_allowed,
            presence=rule.presence,
            history_size=rule.history_size,
            publish=rule.publish,
            direct=rule.direct,
            receive=rule.receive,
        )
        for rule in workspace.channel_rules
    )
    limits = Limits(
        max_connections=workspace.max_connections,
        max_frame_bytes=workspace.max_frame_bytes,
        frames_per_second=workspace.frames_per_second,
        idle_timeout_seconds=workspace.idle_timeout_seconds,
    )
    return WorkspaceSnapshot(
        id=workspace.id,
        enabled=workspace.realtime_enabled and workspace.realtime_state == "ready",
        connection_hash=workspace.connection_hash,
        limits=limits,
        rules=rules,
    )


def snapshot_loaders(app: Flask) -> tuple[LoadByHash, LoadById]:
    """Return the engine's loaders, reading the models inside an app context."""

    def load(condition: ColumnElement[bool]) -> WorkspaceSnapshot | None:
        with app.app_context():
            query = (
                select(Workspace)
                .where(condition)
                .options(selectinload(Workspace.channel_rules))
            )
            workspace = db.session.scalars(query).first()
            return snapshot_of(workspace) if workspace is not None else None

    def by_hash(connection_hash: str) -> WorkspaceSnapshot | None:
        return load(Workspace.connection_hash == connection_hash)

    def by_id(workspace_id: int) -> WorkspaceSnapshot | None:
        return load(Workspace.id == workspace_id)

    return by_hash, by_id


def token_verifier(app: Flask) -> TokenVerifier:
    """Return the engine's auth token check, signed with the app's secret key."""

    def verify(token: str, workspace_id: int) -> TokenClaims | None:
        try:
            return verify_token(app.config["SECRET_KEY"], token, workspace_id)
        except InvalidTokenError:
            return None

    return verify
