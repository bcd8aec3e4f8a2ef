"""Configuration from environment variables: defaults, casting and refusals."""

from __future__ import annotations

import pytest

from webapp.config import ConfigError, load_config

SECRET = {"SECRET_KEY": "config-test-secret"}


def load(tmp_path, development: bool = False, **env: str) -> dict:
    return load_config(str(tmp_path), development=development, env=env)


def test_defaults_need_only_a_secret_key(tmp_path):
    config = load(tmp_path, **SECRET)

    assert config["SECRET_KEY"] == "config-test-secret"
    assert config["REDIS_URL"] == ""
    assert config["ASYNC_MODE"] == "eventlet"
    assert config["LOG_LEVEL"] == "INFO"
    assert config["DEMO_DATA"] is False
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("value", [None, "", "   "])
def test_secret_key_is_required_outside_development(tmp_path, value):
    env = {} if value is None else {"SECRET_KEY": value}

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load(tmp_path, **env)


def test_development_keeps_a_generated_secret_key_in_the_instance_folder(tmp_path):
    first = load(tmp_path, development=True)
    second = load(tmp_path, development=True)

    assert len(first["SECRET_KEY"]) >= 32
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert (tmp_path / "dev-secret-key").exists()


def test_empty_database_url_means_sqlite_in_the_instance_folder(tmp_path):
    config = load(tmp_path, DATABASE_URL="", **SECRET)

    assert config["SQLALCHEMY_DATABASE_URI"] == (
        "sqlite:///" + str(tmp_path / "webapp.sqlite")
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@db:5432/app", "postgresql://u:p@db:5432/app"),
        ("postgresql://u:p@db:5432/app", "postgresql://u:p@db:5432/app"),
        (" sqlite:///elsewhere.sqlite ", "sqlite:///elsewhere.sqlite"),
    ],
)
def test_database_url_is_normalized(tmp_path, raw, expected):
    config = load(tmp_path, DATABASE_URL=raw, **SECRET)

    assert config["SQLALCHEMY_DATABASE_URI"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("TRUE", True), ("0", False), ("false", False)],
)
def test_booleans_accept_one_zero_true_false(tmp_path, raw, expected):
    config = load(tmp_path, DEMO_DATA=raw, SESSION_COOKIE_SECURE=raw, **SECRET)

    assert config["DEMO_DATA"] is expected
    assert config["SESSION_COOKIE_SECURE"] is expected


@pytest.mark.parametrize("name", ["DEMO_DATA", "SESSION_COOKIE_SECURE"])
@pytest.mark.parametrize("raw", ["yes", "no", "on", "2", "tru"])
def test_ambiguous_booleans_are_refused_naming_the_variable(tmp_path, name, raw):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, **{name: raw}, **SECRET)


def test_demo_data_defaults_to_on_in_development_only(tmp_path):
    assert load(tmp_path, development=True)["DEMO_DATA"] is True
    assert load(tmp_path, **SECRET)["DEMO_DATA"] is False


def test_whole_numbers_are_cast(tmp_path):
    config = load(
        tmp_path, MAX_REQUEST_BYTES="2048", AUTH_TOKEN_TTL_SECONDS=" 60 ", **SECRET
    )

    assert config["MAX_CONTENT_LENGTH"] == 2048
    assert config["AUTH_TOKEN_TTL_SECONDS"] == 60


@pytest.mark.parametrize(
    "name",
    [
        "AUTH_TOKEN_TTL_SECONDS",
        "MAX_REQUEST_BYTES",
        "LOGIN_MAX_FAILURES",
        "DEFAULT_MAX_CONNECTIONS",
        "DEFAULT_FRAMES_PER_SECOND",
    ],
)
@pytest.mark.parametrize("raw", ["abc", "1.5", "0", "-3", "1e3"])
def test_bad_whole_numbers_are_refused_naming_the_variable(tmp_path, name, raw):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, **{name: raw}, **SECRET)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://cache.example.net:6380/1"]
)
def test_redis_urls_are_accepted(tmp_path, url):
    assert load(tmp_path, REDIS_URL=url, **SECRET)["REDIS_URL"] == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "unix:///tmp/redis.sock"]
)
def test_other_redis_url_schemes_are_refused(tmp_path, url):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load(tmp_path, REDIS_URL=url, **SECRET)


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_known_async_modes_are_accepted(tmp_path, mode):
    assert load(tmp_path, ASYNC_MODE=mode, **SECRET)["ASYNC_MODE"] == mode


@pytest.mark.parametrize("mode", ["asyncio", "Eventlet", "thread"])
def test_unknown_async_modes_are_refused(tmp_path, mode):
    with pytest.raises(ConfigError, match="ASYNC_MODE"):
        load(tmp_path, ASYNC_MODE=mode, **SECRET)


def test_log_level_is_validated(tmp_path):
    assert load(tmp_path, LOG_LEVEL="debug", **SECRET)["LOG_LEVEL"] == "DEBUG"
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load(tmp_path, LOG_LEVEL="verbose", **SECRET)


def test_public_base_url_loses_its_trailing_slash(tmp_path):
    config = load(tmp_path, PUBLIC_BASE_URL="https://rt.example.net/", **SECRET)

    assert config["PUBLIC_BASE_URL"] == "https://rt.example.net"
