"""The SDK's HTTP client pointed at the local ledger: Horizon's routes, JSON and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from stellar_sdk.client.base_sync_client import BaseSyncClient
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import ConnectionError as SdkConnectionError

from settlements.stellar.protocol import PROTOCOL_VERSION

from .ledger import LocalLedger
from .problems import NOT_FOUND, problem
from .state import FAULT_LOST_RESPONSE, FAULT_TIMEOUT_BEFORE_APPLY

_ACCOUNT_RE = re.compile(r"/accounts/(G[A-Z2-7]{55})/?$")
_TX_RE = re.compile(r"/transactions/([0-9a-fA-F]{64})/?$")


class LocalHorizonClient(BaseSyncClient):
    """The SDK's synchronous HTTP client interface, answered by a :class:`LocalLedger`."""

    def __init__(self, ledger: LocalLedger) -> None:
        self.ledger = ledger

    @staticmethod
    def _response(status: int, body: dict[str, Any], url: str) -> Response:
        content_type = "application/hal+json" if status < 400 else "application/problem+json"
        return Response(
            status_code=status,
            text=json.dumps(body),
            headers={"Content-Type": f"{content_type}; charset=utf-8"},
            url=url,
        )

    def get(
        self, url: str, params: dict[str, str] | None = None, max_content_size: int | None = None
    ) -> Response:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        path = parts.path.rstrip("/") or "/"
        status, body = self._route_get(path, query, url)
        return self._response(status, body, url)

    def _route_get(self, path: str, query: dict[str, str], url: str) -> tuple[int, dict[str, Any]]:
        ledger = self.ledger
        if match := _ACCOUNT_RE.search(path):
            account = ledger.get_account(match.group(1))
            return (200, account) if account is not None else (404, NOT_FOUND)
        if match := _TX_RE.search(path):
            record = ledger.transaction(match.group(1).lower())
            return (200, record) if record is not None else (404, NOT_FOUND)
        if path.endswith("/accounts"):
            if "asset" not in query:
                return 400, problem(
                    "bad_request",
                    "Bad Request",
                    "One of the filters asset, signer, sponsor is required.",
                )
            limit = min(int(query.get("limit", 10)), 200)
            order = query.get("order", "asc")
            records = ledger.holders(
                query["asset"], cursor=query.get("cursor", ""), limit=limit, order=order
            )
            base = url.split("?")[0]
            next_cursor = records[-1]["paging_token"] if records else query.get("cursor", "")
            next_query = urlencode(
                {"asset": query["asset"], "cursor": next_cursor, "limit": limit, "order": order}
            )
            return 200, {
                "_links": {"self": {"href": url}, "next": {"href": f"{base}?{next_query}"}},
                "_embedded": {"records": records},
            }
        if path.endswith("/fee_stats"):
            return 200, ledger.fee_stats_json()
        if path.endswith("/ledgers"):
            return 200, {
                "_links": {"self": {"href": url}},
                "_embedded": {"records": [ledger.latest_ledger_json()]},
            }
        if path == "/":
            return 200, {
                "horizon_version": "local",
                "core_version": "local",
                "history_latest_ledger": ledger.ledger_sequence,
                "network_passphrase": ledger.network_passphrase,
                "current_protocol_version": PROTOCOL_VERSION,
            }
        return 404, NOT_FOUND

    def post(
        self, url: str, data: dict[str, str] | None = None, json_data: dict[str, Any] | None = None
    ) -> Response:
        path = urlsplit(url).path.rstrip("/")
        if not path.endswith("/transactions"):
            return self._response(404, NOT_FOUND, url)
        envelope_xdr = (data or json_data or {}).get("tx", "")
        fault = self.ledger.next_fault()
        if fault == FAULT_TIMEOUT_BEFORE_APPLY:
            raise SdkConnectionError("local ledger: timed out before the request was sent")
        status, body = self.ledger.submit(envelope_xdr)
        if fault == FAULT_LOST_RESPONSE:
            raise SdkConnectionError("local ledger: connection lost after submission")
        return self._response(status, body, url)

    def stream(
        self, url: str, params: dict[str, str] | None = None
    ) -> Generator[dict[str, Any], None, None]:
        """A finite event stream: the current state of the resource, once."""
        response = self.get(url, params)
        if response.status_code == 200:
            yield response.json()

    def close(self) -> None:
        return None
