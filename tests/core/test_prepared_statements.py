"""Prepared statements on PostgreSQL (settings: ``DB_SERVER_SIDE_BINDING``,
``DB_PREPARE_THRESHOLD``) and the back office's custom plans
(:class:`paymint.core.middleware.BackOfficeCustomPlansMiddleware`, issue #19)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


def test_statements_are_bound_server_side_and_prepared():
    options = connection.settings_dict["OPTIONS"]
    assert options["server_side_binding"] is True
    assert connection.connection.prepare_threshold == options["prepare_threshold"] == 5
    with connection.cursor() as cursor:
        for _ in range(6):
            cursor.execute("SELECT %s::int + 1", [41])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements "
                       "WHERE statement LIKE 'SELECT $1::int + 1%%'")
        assert cursor.fetchone()[0] == 1


def test_back_office_requests_plan_for_their_values_and_reset_after(ops_client):
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get("/admin/")
    assert response.status_code == 200
    sql = [q["sql"] for q in captured.captured_queries]
    # Every statement of the request between the two: the back office's own reads.
    assert sql[0] == "SET plan_cache_mode = force_custom_plan"
    assert sql[-1] == "RESET plan_cache_mode"
    assert len(sql) > 2
    assert plan_cache_mode() == "auto"  # reset when the request ended


def test_api_requests_keep_generic_plans(api_client, make_investor):
    with CaptureQueriesContext(connection) as captured:
        response = api_client(make_investor()).get("/api/v1/me")
    assert response.status_code == 200
    assert not [q for q in captured.captured_queries if "plan_cache_mode" in q["sql"]]
