"""Error codes are declared, carry one status, and are documented on the operations that can
raise them (``paymint.core.error_codes``, each app's ``error_codes.py``,
``paymint.core.error_catalog``, the OpenAPI schema's ``x-error-codes``)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

from paymint.core.error_catalog import declared_codes, error_code_enums, operation_codes

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = (
    "paymint",
    "accounts",
    "invoices",
    "marketplace",
    "settlements",
    "compliance",
    "pools",
    "notifications",
    "demo",
)
#: Document-reading outcomes recorded on the invoice (``extraction_error_code``), not answers
#: of the API: the pure extraction pipeline keeps its own codes.
NOT_ERROR_CODES = {"invoices/extraction/errors.py"}
#: A failed verification check answers 422 at the invoice submission whatever the check; the
#: same codes answer 400 where a KYC profile or an amount carries them (both statuses are
#: pinned by the tests of those operations).
#: ``OTP_REQUIRED`` answers 401 at the second step of a sign-in (not signed in yet) and 400 when
#: a signed-in user's large withdrawal lacks its step-up code (accounts.error_codes.SignInError).
TWO_STATUSES = {"INVALID_TAX_ID": {400, 422}, "UNSUPPORTED_CURRENCY": {400, 422},
                "OTP_REQUIRED": {400, 401}}


def app_modules():
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text())


def test_every_code_is_an_enum_member_never_a_bare_string():
    members = {str(m) for enum in error_code_enums() for m in enum}
    bare = []
    for path, tree in app_modules():
        relative = str(path.relative_to(ROOT))
        if relative in NOT_ERROR_CODES or path.name == "error_codes.py":
            continue
        for node in ast.walk(tree):
            values = []
            if isinstance(node, ast.Call):
                values = [kw.value for kw in node.keywords if kw.arg in ("code", "error_code")]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in ("code", "error_code") for t in targets):
                    values = [node.value]
            values += [node] if isinstance(node, ast.Constant) and node.value in members else []
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    bare.append(f"{relative}:{value.lineno} {value.value!r}")
    assert sorted(set(bare)) == []


def test_a_code_answers_with_one_status():
    statuses: dict[str, set[int]] = defaultdict(set)
    for enum in error_code_enums():
        for member in enum:
            assert str(member) == member.name, member
            statuses[str(member)].add(member.http_status)
    several = {code: found for code, found in statuses.items() if len(found) > 1}
    assert several == TWO_STATUSES
    assert statuses["IDEMPOTENCY_KEY_REUSED"] == {422}


def test_every_declared_code_is_raised_somewhere():
    named: set[tuple[str, str]] = set()
    for path, tree in app_modules():
        if path.name == "error_codes.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                named.add((node.value.id, node.attr))
    unused = [
        f"{enum}.{name}"
        for enum, members in declared_codes().items()
        for name in members
        if (enum, name) not in named
    ]
    assert unused == []


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operation(schema, method: str, path: str) -> dict[str, list[str]]:
    return schema["paths"][f"/api/v1/{path}"][method]["x-error-codes"]


def test_every_operation_lists_the_codes_it_can_raise(schema):
    generator = SchemaGenerator()
    generator._initialise_endpoints()  # the views of the schema, without building it again
    views = {}
    for path, _regex, method, view in generator._get_paths_and_endpoints():
        if method.lower() in schema["paths"].get(path, {}):  # not the schema and docs views
            views[(path, method.lower())] = type(view)
    assert len(views) >= 25
    for (path, method), view_class in views.items():
        listed = schema["paths"][path][method]["x-error-codes"]
        expected: dict[str, list[str]] = defaultdict(list)
        for code in operation_codes(view_class, method.upper()):
            expected[str(code.http_status)].append(str(code))
        assert listed == dict(sorted(expected.items())), (method, path)
        for status, codes in listed.items():
            assert (
                f"Codes: {', '.join(codes)}."
                in schema["paths"][path][method]["responses"][status]["description"]
            )


def test_the_codes_of_funding_submission_webhooks_and_withdrawals(schema):
    funding = operation(schema, "post", "marketplace/{listing_id}/investments")
    assert {
        "INSUFFICIENT_FUNDS",
        "LISTING_EXPIRED",
        "AMOUNT_EXCEEDS_REMAINING",
        "INVESTOR_CONCENTRATION_LIMIT",
    } <= set(funding["409"])
    assert {"ACCOUNT_ON_HOLD", "KYC_NOT_APPROVED", "NOT_AN_INVESTOR"} <= set(funding["403"])
    assert funding["422"] == ["IDEMPOTENCY_KEY_REUSED"]
    submit = operation(schema, "post", "invoices/{invoice_id}/submit")
    assert {"DUPLICATE_DOCUMENT", "DUPLICATE_INVOICE"} <= set(submit["409"])
    assert {"MISSING_FIELD", "INVALID_TAX_ID", "DUE_DATE_NOT_IN_FUTURE"} <= set(submit["422"])
    assert "INVALID_TAX_ID" in operation(schema, "post", "me/kyc")["400"]
    webhook = operation(schema, "post", "webhooks/bank")
    assert {"WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_SIGNATURE_MISSING"} <= set(webhook["401"])
    assert "DUPLICATE_EVENT" in webhook["409"] and "UNKNOWN_REFERENCE" in webhook["422"]
    withdrawal = operation(schema, "post", "wallet/withdrawals")
    assert {"OTP_REQUIRED", "INVALID_OTP"} <= set(withdrawal["400"])
    assert "INSUFFICIENT_FUNDS" in withdrawal["409"]
    assert {"TOKEN_REVOKED", "TOKEN_EXPIRED"} <= set(operation(schema, "get", "wallet")["401"])
