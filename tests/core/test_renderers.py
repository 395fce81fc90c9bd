"""orjson behind the hot API reads (paymint.core.renderers): the same bytes as DRF's
JSONRenderer, the same values as json.loads."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from invoices.models import Invoice
from marketplace.services import investment_create
from paymint.core import clock
from paymint.core.renderers import FastJSONRenderer, JSONFloat, json_loads
from settlements.enums import EntryKind
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, api_client_for, deposit

FLOATS = [1e-05, 1e-07, 2.900695081462953e-05, 1e16, 1.5e300, 0.93, -0.0, 0.0001, 5e-324,
          123456789.123]
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=20) | st.sampled_from(
    ["\u2028", "\u2029", "a\x00b\x1f\x7f", "é € 漢 😀", '"\\/', "\ufeff"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | TEXT
    | st.uuids() | st.sampled_from(FLOATS).map(JSONFloat),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def both(data, media_type=None, context=None):
    return (FastJSONRenderer().render(data, media_type, context),
            JSONRenderer().render(data, media_type, context))


@given(JSON)
def test_same_bytes_as_drf(data):
    fast, drf = both(data)
    assert fast == drf


@pytest.mark.parametrize("data", [
    {"amount": Decimal("1.50")},
    {"at": dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2)},
    {"lazy": gettext_lazy("Not found.")},
    {"kind": EntryKind.FUNDING},
    {"big": 2**64},
    {1: "int key"},
    [1.0, 1e-05],  # as JSONFloat (below): orjson alone would write 0.00001
    (1, "tuple"),
    None,
])
def test_other_types_answer_drfs_bytes(data):
    if data == [1.0, 1e-05]:
        data = [JSONFloat(1.0), JSONFloat(1e-05)]
    fast, drf = both(data)
    assert fast == drf


def test_indent_and_nan_follow_drf():
    data = {"a": [1, {"b": "c"}], "id": uuid.UUID(int=7)}
    fast, drf = both(data, "application/json; indent=4")
    assert fast == drf and b'\n    "a"' in fast
    with pytest.raises(ValueError):
        FastJSONRenderer().render({"x": JSONFloat("nan")})


@given(JSON)
def test_json_loads_is_json_loads(data):
    text = json.dumps(data, default=str)
    value = json_loads(text)
    assert value == json.loads(text)
    assert json.dumps(value) == json.dumps(json.loads(text))


@pytest.mark.parametrize("text", [
    '{"a": 123456789012345678901234567890}', '[18446744073709551616, -9223372036854775809]',
    '{"p": 1e-05, "q": [0.93, 1E+16]}', '[1e400]', "[NaN, Infinity, -Infinity]", '"text"',
    '{"a": 1, "a": 2}',
])
def test_json_loads_keeps_json_loads_values(text):
    value, expected = json_loads(text), json.loads(text)
    assert json.dumps(value) == json.dumps(expected)
    assert repr(value) == repr(expected) or any(
        isinstance(v, float) and math.isnan(v) for v in expected)


def test_json_loads_refuses_what_json_loads_refuses():
    for text in ("", "{", "[1,]", "{'a': 1}"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        with pytest.raises(json.JSONDecodeError):
            json_loads(text)


@pytest.mark.django_db
def test_read_apis_answer_drfs_bytes(seller, make_investor):
    """The four views on FAST_RENDERERS, with floats, a 2**70 and U+2028 in a listing's
    stored risk factors (read through PreparedValues' json_loads)."""
    listings = [mustang_listing(seller, invoice_number=f"FAST-{n}") for n in range(2)]
    Invoice.objects.filter(pk=listings[0].invoice_id).update(risk_factors=[
        {"code": "X", "label": "line\u2028sep", "detail": "0.93", "points": 3,
         "weights": [1e-05, 0.5, 1e16, 2**70]}])
    investor = make_investor()
    deposit(investor, "5000.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=investor, listing=listings[0], amount=Decimal("60.00"))
        client = api_client_for(investor)
        for path in ("/api/v1/marketplace", "/api/v1/investments", "/api/v1/wallet",
                     "/api/v1/me"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.content == JSONRenderer().render(response.data), path
        body = client.get("/api/v1/marketplace").content
    stored = Invoice.objects.get(pk=listings[0].invoice_id).risk_factors  # Django's json.loads
    expected = json.dumps(stored, separators=(",", ":"), ensure_ascii=False)
    assert expected.replace("\u2028", "\\u2028").encode() in body
    assert b'"weights":[1e-05,0.5,10000000000000000,1180591620717411303424]' in body
