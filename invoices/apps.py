from django.apps import AppConfig

from paymint.core.registries import register_private_file_kind, register_upload_source
from paymint.core.tallies import tally_register


class InvoicesConfig(AppConfig):
    name = "invoices"
    verbose_name = "Invoices"

    def ready(self) -> None:
        # Invoice documents count in the upload quota and are served through signed URLs.
        register_upload_source("invoices.Invoice", user_field="seller",
                               size_field="document_size", time_field="created_at")
        register_private_file_kind("invoice", "invoices.selectors.invoice_document_for_viewer")
        from .models import INVOICE_TOTALS, OVERDUE_BOOK_TOTALS  # why: models load once ready

        tally_register(INVOICE_TOTALS)
        tally_register(OVERDUE_BOOK_TOTALS)
