"""Configuration read from environment variables, cast and checked at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_BOOLEANS = {"1": True, "true": True, "0": False, "false": False}
ASYNC_MODES = ("eventlet", "gevent", "threading")


class ConfigError(RuntimeError):
    """A configuration variable is missing or has a value we cannot use."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _BOOLEANS:
        raise ConfigError(f"{name} must be one of 1, 0, true, false (got {raw!r})")
    return _BOOLEANS[raw]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} (got {value})")
    return value


def database_url(raw: str, instance_path: str) -> str:
    """Return the SQLAlchemy URL for ``DATABASE_URL``, SQLite when empty."""
    raw = raw.strip()
    if not raw:
        return "sqlite:///" + str(Path(instance_path) / "webapp.sqlite")
    # PaaS providers still hand out the scheme SQLAlchemy dropped.
    if raw.startswith("postgres://"):
        return "postgresql://" + raw[len("postgres://") :]
    return raw


def _secret_key(env: Mapping[str, str], development: bool, instance_path: str) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        return key
    if not development:
        raise ConfigError(
            "SECRET_KEY is not set: set it to a long random string "
            "(it signs sessions and end users' auth tokens)"
        )
    # In development a random key is kept in the instance folder, so sessions
    # and auth tokens survive a restart of `python app.py`.
    path = Path(instance_path) / "dev-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_config(
    instance_path: str,
    development: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read the configuration from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    async_mode = env.get("ASYNC_MODE", "eventlet").strip() or "eventlet"
    if async_mode not in ASYNC_MODES:
        raise ConfigError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}")
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url and not redis_url.startswith(("redis://", "rediss://")):
        raise ConfigError("REDIS_URL must start with redis:// or rediss://")
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    return {
        "DEVELOPMENT": development,
        "SECRET_KEY": _secret_key(env, development, instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(
            env.get("DATABASE_URL", ""), instance_path
        ),
        # A connection the database dropped (a restart, a failover) is
        # replaced when taken from the pool, instead of failing a request.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "ASYNC_MODE": async_mode,
        "LOG_LEVEL": log_level,
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        .strip()
        .rstrip("/"),
        "DEMO_DATA": _bool(env, "DEMO_DATA", development),
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        "AUTH_TOKEN_TTL_SECONDS": _int(env, "AUTH_TOKEN_TTL_SECONDS", 7 * 24 * 3600),
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_SECONDS": _int(env, "LOGIN_LOCKOUT_SECONDS", 300),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_REQUEST_BYTES", 1024 * 1024),
        "DEFAULT_MAX_CONNECTIONS": _int(env, "DEFAULT_MAX_CONNECTIONS", 1000),
        "DEFAULT_MAX_FRAME_BYTES": _int(env, "DEFAULT_MAX_FRAME_BYTES", 64 * 1024),
        "DEFAULT_FRAMES_PER_SECOND": _int(env, "DEFAULT_FRAMES_PER_SECOND", 20),
        "DEFAULT_IDLE_TIMEOUT_SECONDS": _int(env, "DEFAULT_IDLE_TIMEOUT_SECONDS", 300),
        "WS_PING_INTERVAL_SECONDS": _int(env, "WS_PING_INTERVAL_SECONDS", 20),
    }


TEST_OVERRIDES: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "WTF_CSRF_ENABLED": False,
    "ASYNC_MODE": "threading",
    "DEMO_DATA": False,
    "LOG_LEVEL": "WARNING",
}
