"""Test helpers, imported by tests as ``from tests.helpers import ...`` (never from a conftest,
which holds only fixtures).

- :mod:`.users` - users through the real services, signed-in clients;
- :mod:`.documents` - real invoices through upload, extraction, scoring and listing;
- :mod:`.money` - signed bank webhooks, deposits, balanced-books and row-count checks;
- :mod:`.concurrency` - real concurrent clients;
- :mod:`.web` and :mod:`.browser` - dashboard forms and browser steps.
"""

from .browser import nav_link, sign_in, wait_for_menu
from .concurrency import run_in_threads
from .documents import (
    LISTING_DAY,
    MUSTANG_DUE,
    MUSTANG_PDF,
    SHARED_INVOICES,
    list_mustang_invoice,
    listed_invoice,
    mustang_bytes,
    priced_invoice,
    uploaded,
)
from .money import assert_books_balanced, bank_event, db_counts, deposit, signed_webhook
from .users import (
    INVESTOR_TAX_IDS,
    STRONG_PASSWORD,
    TINY_PNG,
    admin_sign_in,
    api_client_for,
    kyc_ready,
    make_user,
)
from .web import (
    PNG_BYTES,
    form_data,
    id_card_png,
    mark_email_verified,
    signing_clock_ahead,
    verify_from_outbox,
)

__all__ = [
    "INVESTOR_TAX_IDS", "LISTING_DAY", "MUSTANG_DUE", "MUSTANG_PDF", "PNG_BYTES",
    "SHARED_INVOICES", "STRONG_PASSWORD", "TINY_PNG", "admin_sign_in", "api_client_for",
    "assert_books_balanced", "bank_event", "db_counts", "deposit", "form_data", "id_card_png",
    "kyc_ready", "list_mustang_invoice", "listed_invoice", "make_user", "mark_email_verified",
    "mustang_bytes", "nav_link", "priced_invoice", "run_in_threads", "sign_in", "wait_for_menu",
    "signed_webhook", "signing_clock_ahead", "uploaded", "verify_from_outbox",
]
