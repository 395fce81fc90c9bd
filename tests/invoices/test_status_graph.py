"""The invoice status graph (``invoices.enums.INVOICE_TRANSITIONS``): what a listed invoice can
become. The funding refuses early on a listing whose invoice shows one of these, however old
the caller's read (``marketplace.services.investment_create``)."""

from invoices.enums import InvoiceStatus as S
from invoices.enums import statuses_after


def test_a_listed_invoice_never_comes_back_to_listed():
    after = statuses_after(S.LISTED)
    assert S.LISTED not in after
    assert after == {S.FUNDED, S.CANCELLED, S.DISBURSED, S.OVERDUE, S.DEFAULTED,
                     S.WRITTEN_OFF, S.SETTLED}


def test_statuses_after_a_final_status_are_none():
    assert statuses_after(S.SETTLED) == frozenset()
    assert statuses_after(S.REJECTED) == frozenset()
