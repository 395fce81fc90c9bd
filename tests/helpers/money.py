"""Money in and out as the bank does it (signed webhooks through the real bank-event service)
and the checks every money test ends with (balanced books, nothing half-written)."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import KycProfile, KycStatusEvent
from invoices.models import Invoice, InvoiceStatusEvent
from marketplace.models import Investment, Listing
from settlements.ledger.posting import trial_balance, unbalanced_entries
from settlements.models import BankEvent, JournalEntry, LedgerAccount, Posting, Settlement
from settlements.services import bank_event_apply
from settlements.webhooks import sign


def signed_webhook(client: APIClient, event: dict, *, timestamp: int | None = None,
                   secret: str | None = None, tamper=None):
    """POST ``event`` to the bank webhook signed as the bank would (``tamper(body)`` changes
    the body after signing)."""
    body = json.dumps(event).encode()
    header = sign(body, secret or settings.BANK_WEBHOOK_SECRET,
                  int(time.time()) if timestamp is None else timestamp)
    if tamper is not None:
        body = tamper(body)
    return client.generic("POST", "/api/v1/webhooks/bank", body,
                          content_type="application/json", HTTP_X_PAYMINT_SIGNATURE=header)


def bank_event(event_id: str, event_type: str, reference: str, amount, currency="EUR") -> dict:
    """A bank event body (``deposit.received``, ``repayment.received``, ...)."""
    return {"id": event_id, "type": event_type, "created": int(time.time()),
            "data": {"reference": reference, "amount": str(Decimal(amount)),
                     "currency": currency}}


def deposit(user, amount, *, event_id: str | None = None, currency: str = "EUR"):
    """Credit ``user``'s wallet through the real bank-event service."""
    return bank_event_apply(payload=bank_event(event_id or f"evt_{uuid.uuid4().hex}",
                                               "deposit.received", user.deposit_reference,
                                               amount, currency))


def db_counts() -> dict[str, int]:
    """Row counts of every table a money or invoice operation writes (each model's default
    manager), read in one statement: ``SELECT (SELECT count(*) ...), ...``."""
    models = [Invoice, InvoiceStatusEvent, Listing, Investment, JournalEntry, Posting,
              BankEvent, Settlement, LedgerAccount, KycProfile, KycStatusEvent]
    counts, params = [], []
    for n, model in enumerate(models):
        sql, args = model.objects.order_by().values("pk").query.sql_with_params()
        counts.append(f"(SELECT count(*) FROM ({sql}) AS rows_{n})")
        params.extend(args)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(counts)}", params)  # noqa: S608 - our own SQL
        row = cursor.fetchone()
    return {model.__name__: count for model, count in zip(models, row, strict=True)}


def assert_books_balanced() -> None:
    """Trial balance zero in every currency and no unbalanced entry."""
    assert all(total == 0 for total in trial_balance().values()), trial_balance()
    assert unbalanced_entries() == []
