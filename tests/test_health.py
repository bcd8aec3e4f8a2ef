"""The health check: healthy, and unhealthy when a dependency is down."""

from __future__ import annotations

import pytest
import redis

from tests.services import REDIS_TEST_URL, require_service
from webapp import create_app
from webapp.config import TEST_OVERRIDES
from webapp.extensions import db


def test_healthy_service_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "realtime_backend": "ok",
    }


@pytest.fixture
def reachable_redis(app_config) -> None:
    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError:
        require_service(False, "Redis is not reachable")
    finally:
        connection.close()
    app_config["REDIS_URL"] = REDIS_TEST_URL


def test_healthy_with_a_reachable_redis(reachable_redis, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json["realtime_backend"] == "ok"


@pytest.fixture
def dead_redis(app_config) -> None:
    # Port 1 on loopback: nothing listens there, so connecting fails at once.
    app_config["REDIS_URL"] = "redis://127.0.0.1:1/0"


def test_unreachable_redis_makes_the_service_unavailable(dead_redis, client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["database"] == "ok"
    assert response.json["realtime_backend"].startswith("unavailable: Redis")


def test_unreachable_database_makes_the_service_unavailable(tmp_path):
    missing = tmp_path / "no-such-folder" / "db.sqlite"
    app = create_app(
        {**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}"}
    )

    try:
        response = app.test_client().get("/healthz")
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["database"].startswith("unavailable")
    assert response.json["realtime_backend"] == "ok"
