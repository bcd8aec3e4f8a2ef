"""Database models: builders, their workspaces, channel rules and end users."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from functools import cache

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db

HISTORY_SIZES = (0, 25, 50, 100, 250, 1000)
PASSWORD_MIN_LENGTH = 8
PUBLISH_CHOICES = ("off", "any", "authenticated")
RECEIVE_CHOICES = ("everyone", "authenticated")
REALTIME_STATES = ("off", "provisioning", "ready", "error")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_connection_hash() -> str:
    """Return a fresh random, URL-safe connection hash."""
    return secrets.token_urlsafe(24)


def new_server_key() -> str:
    """Return a fresh server API key; only its digest is stored."""
    return "sk_" + secrets.token_urlsafe(32)


def digest_server_key(key: str) -> str:
    """Return the stored digest of a server API key (keys are high-entropy)."""
    return hashlib.sha256(key.encode()).hexdigest()


@cache
def _throwaway_hash() -> str:
    return generate_password_hash("no account has this password")


def burn_password_check(password: str) -> None:
    """Check ``password`` against a throwaway hash and forget the answer.

    An unknown account then takes as long to refuse as a wrong password, so
    response times do not tell which emails exist.
    """
    check_password_hash(_throwaway_hash(), password)


class PasswordMixin:
    password_hash: Mapped[str]

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Builder(PasswordMixin, UserMixin, db.Model):
    """A person who logs in to the dashboard and owns workspaces."""

    __tablename__ = "builders"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    workspaces: Mapped[list[Workspace]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", order_by="Workspace.id"
    )


class Workspace(db.Model):
    """A builder's unit of realtime: settings, limits, keys and channel rules."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("builders.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    # Realtime settings.
    realtime_enabled: Mapped[bool] = mapped_column(default=False)
    realtime_state: Mapped[str] = mapped_column(String(16), default="off")
    realtime_state_detail: Mapped[str] = mapped_column(String(255), default="")
    connection_hash: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_connection_hash
    )
    # Public key naming the workspace's API group: <base>/api:<api_group_key>.
    api_group_key: Mapped[str] = mapped_column(
        String(32), unique=True, default=lambda: secrets.token_urlsafe(9)
    )
    server_key_digest: Mapped[str] = mapped_column(String(64), default="")
    server_key_hint: Mapped[str] = mapped_column(String(8), default="")
    # Bumped on every change a connected client must notice.
    settings_version: Mapped[int] = mapped_column(default=1)

    # Limits.
    max_connections: Mapped[int] = mapped_column(default=1000)
    max_frame_bytes: Mapped[int] = mapped_column(default=64 * 1024)
    frames_per_second: Mapped[int] = mapped_column(default=20)
    idle_timeout_seconds: Mapped[int] = mapped_column(default=300)

    owner: Mapped[Builder] = relationship(back_populates="workspaces")
    channel_rules: Mapped[list[ChannelRule]] = relationship(
        back_populates="workspace",
        cascade="all, delete-orphan",
        order_by="ChannelRule.name",
    )
    end_users: Mapped[list[EndUser]] = relationship(
        back_populates="workspace", cascade="all, delete-orphan"
    )

    def rotate_server_key(self) -> str:
        """Replace the server API key and return the new one (shown only once)."""
        key = new_server_key()
        self.server_key_digest = digest_server_key(key)
        self.server_key_hint = key[-4:]
        return key

    def regenerate_connection_hash(self) -> None:
        self.connection_hash = new_connection_hash()
        self.settings_version += 1

    def has_server_key(self, key: str) -> bool:
        if not self.server_key_digest:
            return False
        return secrets.compare_digest(self.server_key_digest, digest_server_key(key))


class ChannelRule(db.Model):
    """Which channels of a workspace exist and what their clients may do.

    ``name`` is an exact channel name, or a prefix ending in ``*`` when
    ``nested`` is set; where several rules match a channel the most specific
    one applies (an exact name first, then the longest prefix).
    """

    __tablename__ = "channel_rules"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    nested: Mapped[bool] = mapped_column(default=False)
    anonymous_allowed: Mapped[bool] = mapped_column(default=True)
    presence: Mapped[bool] = mapped_column(default=False)
    history_size: Mapped[int] = mapped_column(default=0)
    publish: Mapped[str] = mapped_column(String(16), default="any")
    direct: Mapped[str] = mapped_column(String(16), default="off")
    receive: Mapped[str] = mapped_column(String(16), default="everyone")

    workspace: Mapped[Workspace] = relationship(back_populates="channel_rules")


class EndUser(PasswordMixin, db.Model):
    """A user of a builder's app, signed up through the workspace's API group."""

    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    workspace: Mapped[Workspace] = relationship(back_populates="end_users")

    def to_public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "email": self.email}
