"""Horizon's error documents (RFC 7807 problem+json), as the SDK expects them."""

from __future__ import annotations

from typing import Any


def problem(
    kind: str, title: str, detail: str, extras: dict[str, Any] | None = None, status: int = 400
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://stellar.org/horizon-errors/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if extras is not None:
        body["extras"] = extras
    return body


def tx_failed_problem(envelope_xdr: str, result_codes: dict[str, Any]) -> dict[str, Any]:
    return problem(
        "transaction_failed",
        "Transaction Failed",
        "The transaction failed when submitted to the stellar network. The `extras.result_codes`"
        " field on this response contains further details.",
        {"envelope_xdr": envelope_xdr, "result_codes": result_codes},
    )


NOT_FOUND = problem(
    "not_found", "Resource Missing", "The resource at the url requested was not found.", status=404
)
