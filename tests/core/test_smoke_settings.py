from django.db import connection


def test_tests_run_on_postgresql(db):
    assert connection.vendor == "postgresql"
