"""The pages the journeys pass by without stopping, checked like theirs (overflow, axe, 44 px
targets, console and CSP) at both widths: sign-up and password reset, onboarding for a new
seller, the account pages, an empty wallet, the withdraw form, a multi-page document with its
pager, the 404 page, and the phone menu opening and closing."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import expect

from invoices.services import invoice_upload
from tests.helpers import STRONG_PASSWORD, make_user, nav_link, sign_in, uploaded, wait_for_menu

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def three_page_pdf() -> bytes:
    pdf = pdfium.PdfDocument.new()
    for _ in range(3):
        pdf.new_page(595, 842)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_public_pages(page, check_page):
    page.goto("/signup/")
    check_page(page, "public-signup")
    page.goto("/password-reset/")
    check_page(page, "public-password-reset")
    # The API docs (Swagger UI from drf-spectacular-sidecar) run under the CSP: no violation,
    # no console error, nothing fetched from elsewhere. Third-party UI: not held to axe here.
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PayMint API")
    assert not page.problems, page.problems.as_dict()
    origin = page.url.split("/api/")[0]
    assert requests and all(url.startswith(origin + "/") for url in requests), requests

    page.problems.expected.append("status of 404")
    page.goto("/no-such-page/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_page(page, "public-404")


def test_account_pages_of_a_new_seller(page, check_page, viewport):
    newcomer = make_user("SELLER", "newcomer@example.com")
    sign_in(page, newcomer.email, STRONG_PASSWORD)
    check_page(page, "newcomer-seller-dashboard")
    expect(page.get_by_text(re.compile(r"0\.00 EUR")).first).to_be_visible()

    wait_for_menu(page)
    menu = page.get_by_role("navigation", name="Main").get_by_role("button", name="Menu")
    if viewport == "phone":
        expect(menu).to_be_visible()
        expect(menu).to_have_attribute("aria-expanded", "false")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        check_page(page, "newcomer-menu-open")
        nav_link(page, "Wallet").focus()  # Escape in the open menu closes it
        page.keyboard.press("Escape")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(menu).to_be_focused()
    else:
        expect(menu).to_be_hidden()

    for name, label in (("Company (KYB)", "newcomer-kyc"), ("Security", "newcomer-security"),
                        ("Wallet", "newcomer-wallet")):
        nav_link(page, name).click()
        page.wait_for_load_state()
        check_page(page, label)
    page.goto("/account/data/")
    check_page(page, "newcomer-data-privacy")
    page.goto("/account/two-factor/setup/")
    check_page(page, "newcomer-two-factor-setup")
    page.goto("/account/password/")
    check_page(page, "newcomer-password-change")


def test_multi_page_document_and_withdraw_form(page, seller, check_page):
    invoice = invoice_upload(seller=seller,
                             uploaded_file=uploaded(three_page_pdf(), "three-pages.pdf"))
    sign_in(page, seller.email, STRONG_PASSWORD, next_url=f"/seller/invoices/{invoice.public_id}/")
    pager = page.get_by_role("navigation", name="Document pages")
    expect(pager).to_contain_text("Page 1 of 3")
    check_page(page, "seller-document-page-1")
    pager.get_by_role("link", name=re.compile("Next page")).click()
    expect(pager).to_contain_text("Page 2 of 3")
    expect(page).to_have_url(re.compile(r"doc_page=2"))
    image = page.locator(".doc-page img")
    expect(image).to_have_attribute("src", re.compile(r"/pages/2\.png$"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())
    check_page(page, "seller-document-page-2")

    page.goto("/wallet/withdraw/")
    check_page(page, "seller-withdraw-form")
