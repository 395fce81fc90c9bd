"""The back office's lists of large tables filter on fixed choices: no ``SELECT DISTINCT`` over
the table on every view (a full scan: about a second at 1,000,000 invoices, issue #19)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from invoices.models import Invoice
from tests.helpers import STRONG_PASSWORD, admin_sign_in, priced_invoice

pytestmark = pytest.mark.django_db

LARGE_LISTS = ("invoices_invoice", "settlements_journalentry", "settlements_ledgeraccount",
               "marketplace_investment", "settlements_withdrawal")


def get(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return response, [q["sql"] for q in queries]


def test_invoice_list_offers_fixed_currency_and_method_choices(ops_client, seller):
    invoice = priced_invoice(seller)
    response, queries = get(ops_client, reverse("admin:invoices_invoice_changelist"))
    assert not [sql for sql in queries if "DISTINCT" in sql.upper()]
    page = response.content.decode()
    for code in ("EUR", "USD", "GBP", "INR"):  # PAYMINT["CURRENCIES"]
        assert f"?currency={code}" in page
    for method in ("einvoice-cii", "einvoice-ubl", "text-layer", "ocr"):
        assert f"?extraction_method={method}" in page

    url = reverse("admin:invoices_invoice_changelist")
    shown = get(ops_client, f"{url}?currency={invoice.currency}")[0]
    assert invoice.invoice_number in shown.content.decode()
    other = "USD" if invoice.currency != "USD" else "EUR"
    assert invoice.invoice_number not in get(ops_client, f"{url}?currency={other}")[0] \
        .content.decode()
    method = Invoice.objects.values_list("extraction_method", flat=True).get(pk=invoice.pk)
    assert invoice.invoice_number in get(
        ops_client, f"{url}?extraction_method={method}")[0].content.decode()


@pytest.mark.parametrize("table", LARGE_LISTS)
def test_large_lists_run_no_distinct(table):
    root = User.objects.create_superuser(email="root@example.com", password=STRONG_PASSWORD)
    client = admin_sign_in(Client(), root)
    response, queries = get(client, reverse(f"admin:{table}_changelist"))
    assert not [sql for sql in queries if "DISTINCT" in sql.upper()], table
    assert "?currency=EUR" in response.content.decode()
