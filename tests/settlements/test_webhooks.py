"""Bank webhook signatures: HMAC-SHA256 over ``<t>.<body>`` (no database)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from settlements.webhooks import WebhookRejected, sign, verify_signature

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"deposit.received"}'
NOW = 1_700_000_000


def verify(body=BODY, header=None, *, now=NOW, secret=SECRET):
    return verify_signature(
        body=body,
        header=sign(BODY, SECRET, NOW) if header is None else header,
        secret=secret,
        tolerance_seconds=300,
        now=now,
    )


def rejected(**kwargs) -> str:
    with pytest.raises(WebhookRejected) as info:
        verify(**kwargs)
    assert info.value.http_status == 401
    return info.value.code


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    digest = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, NOW) == f"t={NOW},v1={digest}"


def test_valid_signature_returns_the_timestamp():
    assert verify() == NOW


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamp_at_the_tolerance_edge_is_accepted(offset):
    assert verify(now=NOW + offset) == NOW


@pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_byte_changed_in_the_body(index):
    tampered = bytearray(BODY)
    tampered[index] ^= 0x01
    assert rejected(body=bytes(tampered)) == "WEBHOOK_SIGNATURE_INVALID"


def test_one_hex_digit_changed_in_the_signature():
    header = sign(BODY, SECRET, NOW)
    last = header[-1]
    header = header[:-1] + ("0" if last != "0" else "1")
    assert rejected(header=header) == "WEBHOOK_SIGNATURE_INVALID"


def test_wrong_secret():
    assert rejected(secret="whsec_other") == "WEBHOOK_SIGNATURE_INVALID"


def test_signature_is_bound_to_its_timestamp():
    # the digest of NOW under another t= value
    digest = sign(BODY, SECRET, NOW).split("v1=")[1]
    assert rejected(header=f"t={NOW + 1},v1={digest}") == "WEBHOOK_SIGNATURE_INVALID"


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_timestamp_outside_five_minutes(offset):
    assert rejected(now=NOW + offset) == "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE"


@pytest.mark.parametrize("header", ["", None])
def test_missing_header(header):
    with pytest.raises(WebhookRejected) as info:
        verify_signature(body=BODY, header=header, secret=SECRET, tolerance_seconds=300, now=NOW)
    assert info.value.code == "WEBHOOK_SIGNATURE_MISSING"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW}",  # no v1
        "v1=abcdef",  # no t
        f"t=abc,v1={'0' * 64}",  # non-numeric timestamp
        f"t=-{NOW},v1={'0' * 64}",
        f"t={NOW},v0={'0' * 64}",  # unknown scheme only
    ],
)
def test_malformed_header(header):
    assert rejected(header=header) == "WEBHOOK_SIGNATURE_INVALID"


def test_rotated_secrets_any_v1_may_match():
    good = sign(BODY, SECRET, NOW).split("v1=")[1]
    old = sign(BODY, "whsec_old", NOW).split("v1=")[1]
    assert verify(header=f"t={NOW},v1={old},v1={good}") == NOW
    assert verify(header=f"t={NOW}, v1={good}, v1={old}") == NOW
    assert rejected(header=f"t={NOW},v1={old},v1={'0' * 64}") == "WEBHOOK_SIGNATURE_INVALID"
