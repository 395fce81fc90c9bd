"""Seller dashboard pages: overview and upload, the invoice page (review, submit, list), the
owner-only document link (a redirect to a short-lived signed download URL) and the document's
pages as PNG images rendered by PayMint (shown beside the extracted fields).

Every invoice id in a URL is resolved with :func:`invoices.selectors.invoice_get_for_seller`,
so another seller's invoice answers 404 exactly like a missing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.enums import Role
from accounts.selectors import kyc_profile_for_user
from marketplace.services import invoice_cancel, listing_create
from paymint.core.errors import ApplicationError, NotFound
from paymint.core.storage import private_file_redirect
from paymint.core.web import is_htmx, role_required
from settlements.ledger import wallet_balances

from .enums import CANCELLABLE_STATUSES, EDITABLE_STATUSES, INVOICE_TRANSITIONS, InvoiceStatus
from .forms import InvoiceFieldsForm, InvoiceUploadForm, ListingCreateForm
from .models import Invoice
from .selectors import (
    invoice_get_for_seller,
    invoice_list_for_seller,
    invoice_page_count,
    invoice_preview_png,
    invoice_private_file,
)
from .services import (
    EXTRACTED_TO_MODEL,
    invoice_submit,
    invoice_update_fields,
    invoice_upload,
    low_confidence_fields,
)
from .web_selectors import (
    invoice_current_offer,
    invoice_field_confidence,
    invoice_field_regions,
    invoice_field_values,
    invoice_timeline,
    maturity_chart,
    seller_outstanding,
    seller_receivables_by_maturity,
    seller_status_counts,
    seller_upcoming_due,
)

INVOICES_PER_PAGE = 20


def _invoice_or_404(request: HttpRequest, invoice_id) -> Invoice:
    try:
        return invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
    except NotFound:
        raise Http404("Invoice not found.") from None


def _dashboard_context(request: HttpRequest, upload_form: InvoiceUploadForm) -> dict:
    seller = request.user
    page = Paginator(invoice_list_for_seller(seller=seller), INVOICES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    maturity = seller_receivables_by_maturity(seller=seller)
    return {
        "upload_form": upload_form,
        "maturity": maturity,
        "maturity_chart": maturity_chart(maturity),
        "profile": kyc_profile_for_user(user=seller),
        "balances": wallet_balances(user=seller),
        "outstanding": seller_outstanding(seller=seller),
        "status_counts": seller_status_counts(seller=seller),
        "upcoming": seller_upcoming_due(seller=seller),
        "page": page,
    }


@role_required(Role.SELLER)
@require_GET
def seller_dashboard(request: HttpRequest) -> HttpResponse:
    """Money in hand, money outstanding, the invoices and the upload form."""
    context = _dashboard_context(request, InvoiceUploadForm())
    return render(request, "invoices/seller_dashboard.html", context)


@role_required(Role.SELLER)
@require_POST
def invoice_upload_view(request: HttpRequest) -> HttpResponse:
    """Upload an invoice document (multipart field ``document``), then review it."""
    form = InvoiceUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["document"]
        try:
            invoice = invoice_upload(
                seller=request.user, uploaded_file=upload, filename=upload.name
            )
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            messages.success(request, "Invoice uploaded. Please check what we read from it.")
            return redirect("seller-invoice", invoice_id=invoice.public_id)
    context = _dashboard_context(request, form)
    return render(request, "invoices/seller_dashboard.html", context, status=400)


def _fields_form(invoice: Invoice, data=None) -> InvoiceFieldsForm:
    low: set[str] = set()
    if invoice.extraction:
        low = {EXTRACTED_TO_MODEL[name] for name in low_confidence_fields(invoice)}
    return InvoiceFieldsForm(
        data,
        initial=invoice_field_values(invoice=invoice),
        confidence=invoice_field_confidence(invoice=invoice),
        low_confidence=low,
        editable=invoice.status in EDITABLE_STATUSES,
    )


@role_required(Role.SELLER)
@require_http_methods(["GET", "POST"])
def seller_invoice(request: HttpRequest, invoice_id) -> HttpResponse:
    """The seller's invoice: document, extracted fields (save corrections, submit), checks,
    score and offer (list on the marketplace) and the status timeline.

    POST ``action``: ``save`` (:func:`invoice_update_fields`), ``submit``
    (:func:`invoice_submit`), ``list`` (:func:`marketplace.services.listing_create`) or
    ``cancel`` (:func:`marketplace.services.invoice_cancel`, the API's
    ``POST /invoices/{id}/cancel``: a priced or listed invoice, investors refunded).
    """
    invoice = _invoice_or_404(request, invoice_id)
    if is_htmx(request) and request.GET.get("fragment") == "progress":
        if invoice.status == InvoiceStatus.UPLOADED:
            return render(request, "invoices/_progress.html", {"invoice": invoice})
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response

    fields_form = _fields_form(invoice)
    list_form = ListingCreateForm(advance_cap=invoice.advance_rate)
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("save", "submit"):
            fields_form = _fields_form(invoice, data=request.POST)
            if fields_form.is_valid():
                if action == "save":
                    done = _save_corrections(request, invoice, fields_form)
                else:
                    done = _submit(request, invoice, fields_form)
                if done:
                    return redirect("seller-invoice", invoice_id=invoice.public_id)
        elif action == "list":
            list_form = ListingCreateForm(request.POST, advance_cap=invoice.advance_rate)
            if list_form.is_valid():
                try:
                    listing_create(
                        invoice=invoice,
                        seller=request.user,
                        advance_rate=list_form.cleaned_data["advance_rate"],
                        min_fill_rate=list_form.cleaned_data["min_fill_rate"],
                    )
                except ApplicationError as exc:
                    list_form.add_application_error(exc)
                else:
                    messages.success(request, "Your invoice is listed on the marketplace.")
                    return redirect("seller-invoice", invoice_id=invoice.public_id)
        elif action == "cancel":
            try:
                invoice_cancel(invoice=invoice, seller=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Your invoice is cancelled; any investor was refunded "
                                 "in full.")
            return redirect("seller-invoice", invoice_id=invoice.public_id)
        else:
            return HttpResponseBadRequest("Unknown action.")

    context = {
        **_document_context(request, invoice, fields_form),
        "invoice": invoice,
        "fields_form": fields_form,
        "list_form": list_form,
        "listing": getattr(invoice, "listing", None),
        "offer": invoice_current_offer(invoice=invoice),
        "timeline": invoice_timeline(invoice=invoice),
        "editable": invoice.status in EDITABLE_STATUSES,
        "can_submit": InvoiceStatus.SUBMITTED in INVOICE_TRANSITIONS[invoice.status],
        "processing": invoice.status == InvoiceStatus.UPLOADED,
        "can_cancel": invoice.status in CANCELLABLE_STATUSES,
    }
    return render(request, "invoices/invoice_detail.html", context)


def _document_context(request: HttpRequest, invoice: Invoice, form: InvoiceFieldsForm) -> dict:
    """The document viewer: which page to show (``?doc_page=``, 1-based), how many there are,
    and the boxes of the fields read from that page (SVG coordinates in a 1000 x 1000 box).
    Each form field read from a page also learns its page number (``region_page``)."""
    pages = invoice_page_count(invoice=invoice)
    try:
        current = int(request.GET.get("doc_page", 1))
    except ValueError:
        current = 1
    current = min(max(current, 1), pages) if pages else 0
    boxes = []
    for name, region in invoice_field_regions(invoice=invoice).items():
        if name not in form.fields:
            continue
        form.fields[name].region_page = region["page"] + 1
        if region["page"] + 1 != current:
            continue
        boxes.append({
            "field": name,
            "label": form.fields[name].label,
            "x": round(region["x0"] * 1000, 1),
            "y": round(region["top"] * 1000, 1),
            "width": round((region["x1"] - region["x0"]) * 1000, 1),
            "height": round((region["bottom"] - region["top"]) * 1000, 1),
        })
    return {"doc_pages": pages, "doc_page": current, "doc_regions": boxes}


def _save_corrections(request: HttpRequest, invoice: Invoice, form: InvoiceFieldsForm) -> bool:
    changes = form.changes()
    if not changes:
        messages.info(request, "Nothing changed.")
        return True
    try:
        invoice_update_fields(invoice=invoice, actor=request.user, changes=changes)
    except ApplicationError as exc:
        form.add_application_error(exc)
        return False
    messages.success(request, "Your corrections were saved.")
    return True


def _submit(request: HttpRequest, invoice: Invoice, form: InvoiceFieldsForm) -> bool:
    if form.has_changed():
        form.add_error(None, "You changed some fields: save your corrections before submitting.")
        return False
    try:
        invoice_submit(invoice=invoice, actor=request.user)
    except ApplicationError as exc:
        form.add_application_error(exc)
        return False
    messages.success(request, "Submitted. We verified your invoice and are scoring it.")
    return True


@role_required(Role.SELLER)
@require_GET
def invoice_document(request: HttpRequest, invoice_id) -> HttpResponse:
    """The invoice's document, for its seller only: a redirect to a fresh short-lived signed
    URL (:mod:`paymint.core.storage`) that serves it as an attachment."""
    invoice = _invoice_or_404(request, invoice_id)
    return private_file_redirect(
        request, kind="invoice", object_id=invoice.public_id,
        private_file=invoice_private_file(invoice),
    )


@role_required(Role.SELLER)
@require_GET
def invoice_page_image(request: HttpRequest, invoice_id, page: int) -> HttpResponse:
    """Page ``page`` (1-based) of the invoice's document as a PNG rendered by PayMint, for its
    seller only (another seller's invoice is a 404 like a missing one). The uploaded bytes are
    never sent inline: a PDF is rendered server-side, so no browser PDF viewer is involved."""
    invoice = _invoice_or_404(request, invoice_id)
    png = invoice_preview_png(invoice=invoice, page=page - 1) if page >= 1 else None
    if png is None:
        raise Http404("No such page.")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="page-{page}.png"'
    return response
