"""PostgreSQL stopped and started under a running server (its own cluster, gunicorn, persistent
connections): the API answers 503 SERVICE_UNAVAILABLE in JSON with Retry-After while it is
down, /healthz stays 200 (liveness) and /readyz says which dependency is down; once it is back
the first request succeeds (CONN_HEALTH_CHECKS), nothing was half-written and the books are
green."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.faults.conftest import Server, load_schema, manage, server_env

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]

EMAIL = "faults-investor@example.com"
PASSWORD = "Correct-Horse-Battery-9"


def test_postgres_stopped_and_started_under_a_running_server(local_postgres, tmp_path):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    env = server_env(url, CONN_MAX_AGE="600", REDIS_URL="", MEDIA_ROOT=str(tmp_path))
    manage(
        "shell",
        "-c",
        "from accounts.services import user_register; "
        f"user_register(email='{EMAIL}', password='{PASSWORD}', role='INVESTOR')",
        env=env,
    )
    server = Server(env)
    try:
        sign_in = {"email": EMAIL, "password": PASSWORD}
        status, body, _ = server.request("POST", "/api/v1/auth/token", sign_in)
        assert status == 200 and "access" in body, body
        bearer = {"Authorization": f"Bearer {body['access']}"}

        local_postgres.stop()
        status, body, headers = server.request("POST", "/api/v1/auth/token", sign_in)
        assert status == 503, body
        assert body["code"] == "SERVICE_UNAVAILABLE" and body["dependency"] == "database"
        assert set(body) == {"code", "message", "fields", "dependency"}
        assert headers["Retry-After"] == "5"
        assert headers["Content-Type"] == "application/json"
        status, body, _ = server.request("GET", "/api/v1/me", headers=bearer)
        assert status == 503 and body["code"] == "SERVICE_UNAVAILABLE", body
        assert server.get("/healthz")[0] == 200
        status, ready, _ = server.get("/readyz")
        assert status == 503 and ready["checks"]["database"]["status"] == "fail"

        local_postgres.start()
        # The first request after the restart: the dead persistent connection is replaced.
        status, body, _ = server.request("POST", "/api/v1/auth/token", sign_in)
        assert status == 200 and "access" in body, body
        assert server.get("/readyz")[0] == 200
    finally:
        server.stop()
    assert local_postgres.psql("SELECT count(*) FROM accounts_user", db="paymint").strip() == "1"
    books = manage("verify_books", "--json", env=env)
    assert '"ok": true' in books.stdout
