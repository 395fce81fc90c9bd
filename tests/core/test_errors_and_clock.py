"""Typed errors, the API error format and the business clock."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from paymint.core import clock
from paymint.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


class TestErrors:
    @pytest.mark.parametrize(
        ("cls", "code", "status"),
        [
            (ApplicationError, "APPLICATION_ERROR", 400),
            (ValidationFailed, "VALIDATION_ERROR", 400),
            (PermissionDenied, "PERMISSION_DENIED", 403),
            (NotFound, "NOT_FOUND", 404),
            (Conflict, "CONFLICT", 409),
            (InvalidTransition, "INVALID_STATUS_TRANSITION", 409),
        ],
    )
    def test_defaults(self, cls, code, status):
        error = cls("boom")
        assert (error.code, error.http_status, error.message, error.fields) == (
            code,
            status,
            "boom",
            {},
        )

    def test_overrides_do_not_leak_to_the_class(self):
        error = Conflict("x", code="SPECIFIC", http_status=422, fields={"a": ["bad"]})
        assert (error.code, error.http_status, error.fields) == ("SPECIFIC", 422, {"a": ["bad"]})
        assert Conflict("y").code == "CONFLICT"
        assert Conflict("y").http_status == 409


class TestClock:
    def test_frozen_at_a_date_is_noon_utc_and_restores(self):
        before = clock.today()
        with clock.frozen_at(dt.date(2020, 11, 22)):
            assert clock.now() == dt.datetime(2020, 11, 22, 12, tzinfo=dt.UTC)
            assert clock.today() == dt.date(2020, 11, 22)
            with clock.frozen_at(dt.date(2021, 1, 1)):
                assert clock.today() == dt.date(2021, 1, 1)
            assert clock.today() == dt.date(2020, 11, 22)
        assert clock.today() == before

    def test_restores_after_an_exception(self):
        with pytest.raises(RuntimeError), clock.frozen_at(dt.date(2000, 1, 1)):
            raise RuntimeError
        assert clock.today() != dt.date(2000, 1, 1)

    def test_thread_local_by_default_global_on_request(self):
        seen = {}

        def read(name):
            seen[name] = clock.today()

        with clock.frozen_at(dt.date(2020, 11, 22)):
            thread = threading.Thread(target=read, args=("local",))
            thread.start()
            thread.join()
        with clock.frozen_at(dt.date(2020, 11, 23), all_threads=True):
            thread = threading.Thread(target=read, args=("global",))
            thread.start()
            thread.join()
        assert seen["local"] != dt.date(2020, 11, 22)
        assert seen["global"] == dt.date(2020, 11, 23)
        assert clock.today() != dt.date(2020, 11, 23)
