"""End-to-end journeys in a real browser (Chromium via Playwright) against the live server:
a seller lists a real e-invoice, an investor funds it, and ops approves a KYB in the admin
behind two-factor sign-in. Each page under test is saved to ``artifacts/screenshots/``."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.enums import KycStatus
from accounts.kyc_documents import kyc_submit_with_document
from accounts.models import KycProfile
from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from marketplace.models import Investment
from paymint.core import clock
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_PDF,
    STRONG_PASSWORD,
    deposit,
    id_card_png,
    listed_invoice,
    make_user,
    nav_link,
    sign_in,
    uploaded,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def business_day_all_threads():
    """The business clock frozen on the Mustang invoice's listing day, for the live server's
    thread too."""
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        yield LISTING_DAY


def test_seller_uploads_corrects_submits_and_lists_an_invoice(
    page, seller, check_page, business_day_all_threads
):
    page.goto("/login/")
    check_page(page, "sign-in")
    sign_in(page, seller.email, STRONG_PASSWORD)
    expect(page).to_have_url(re.compile(r"/seller/$"))
    expect(page.get_by_role("heading", name="Your invoices")).to_be_visible()
    check_page(page, "seller-dashboard-empty")

    page.get_by_label("Invoice document").set_input_files(str(MUSTANG_PDF))
    page.get_by_role("button", name="Upload and read").click()
    expect(page).to_have_url(re.compile(r"/seller/invoices/[0-9a-f-]+/$"))
    expect(page.locator("input[name=invoice_number]")).to_have_value("RE-20201121/508")
    # The document beside the fields: page 1 rendered by PayMint (an image, no PDF viewer).
    document = page.locator(".doc-page img")
    expect(document).to_be_visible()
    assert document.evaluate("img => img.complete && img.naturalWidth") > 500
    assert page.locator("iframe, object, embed").count() == 0
    check_page(page, "seller-invoice-extracted")

    # Where the extraction knows a field's region, a box marks it on the page; focusing the
    # field emphasises its box.
    invoice = Invoice.objects.get(seller=seller)
    Invoice.objects.filter(pk=invoice.pk).update(extraction={
        **invoice.extraction,
        "fields": {"buyer_name": {"value": "Theodor Est",
                                  "region": {"page": 0, "x0": 0.08, "top": 0.2, "x1": 0.35,
                                             "bottom": 0.23}}},
    })
    page.reload()
    box = page.locator(".doc-regions rect[data-field=debtor_name]")
    frame = page.locator(".doc-page img").bounding_box()
    drawn = box.bounding_box()
    assert frame["x"] <= drawn["x"] and drawn["x"] + drawn["width"] <= frame["x"] + frame["width"]
    assert abs(drawn["y"] - (frame["y"] + 0.2 * frame["height"])) < 3
    page.locator("input[name=debtor_name]").focus()
    expect(box).to_have_class(re.compile("is-active"))
    expect(page.get_by_text("Read from page 1 of the document")).to_be_visible()
    check_page(page, "seller-invoice-field-regions")

    page.locator("input[name=debtor_name]").fill("Theodor Est e.K.")
    page.get_by_role("button", name="Save corrections").click()
    expect(page.get_by_text("Your corrections were saved.")).to_be_visible()
    expect(page.locator("input[name=debtor_name]")).to_have_value("Theodor Est e.K.")

    page.get_by_role("button", name="Submit for financing").click()
    expect(page.get_by_role("heading", name="Your offer")).to_be_visible()
    check_page(page, "seller-invoice-offer")

    page.get_by_role("button", name="List on the marketplace").click()
    expect(page.get_by_text("Your invoice is listed on the marketplace.")).to_be_visible()
    invoice = Invoice.objects.get(seller=seller)
    assert invoice.status == InvoiceStatus.LISTED
    assert invoice.debtor_name == "Theodor Est e.K."

    nav_link(page, "Invoices").click()
    row = page.locator("tbody tr", has_text="RE-20201121/508")
    expect(row).to_contain_text("Listed")
    expect(row).to_contain_text("Theodor Est e.K.")
    check_page(page, "seller-dashboard-listed")


def test_investor_funds_a_listed_invoice(
    page, seller, make_investor, check_page, business_day_all_threads
):
    listing = listed_invoice(seller)
    investor = make_investor()
    deposit(investor, "1000.00")

    sign_in(page, investor.email, STRONG_PASSWORD)
    expect(page.get_by_role("heading", name="Your portfolio")).to_be_visible()
    nav_link(page, "Marketplace").click()
    expect(page.get_by_role("heading", name="Marketplace")).to_be_visible()
    check_page(page, "investor-marketplace")

    # Filters live in the URL and show as chips; a chip removes its filter.
    filters = page.locator("details.filters")
    if not filters.evaluate("d => d.open"):  # phones start with the panel closed
        filters.locator("summary").click()
    page.get_by_label("A", exact=True).check()
    expect(page).to_have_url(re.compile(r"[?&]grade=A"))
    chip = page.get_by_role("link", name=re.compile(r"^Grade A"))
    expect(chip).to_be_visible()
    expect(page.get_by_text("1 listing open with these filters")).to_be_visible()
    check_page(page, "investor-marketplace-filtered")
    chip.click()
    expect(page).not_to_have_url(re.compile(r"grade=A"))
    expect(page.locator("a.chip")).to_have_count(0)

    page.locator(f"a[href='/marketplace/{listing.public_id}/']").first.click()
    expect(page).to_have_url(re.compile(rf"/marketplace/{listing.public_id}/"))
    page.locator("#invest_amount").fill("100.00")
    check_page(page, "investor-listing-detail")
    page.get_by_role("button", name="Review investment").click()
    expect(page.get_by_role("heading", name="Confirm your investment")).to_be_visible()
    check_page(page, "investor-invest-confirm")

    page.get_by_role("button", name=re.compile(r"Confirm and invest")).click()
    expect(page.get_by_text(re.compile(r"You funded 100\.00 EUR"))).to_be_visible()
    investment = Investment.objects.get(investor=investor)
    assert investment.amount == Decimal("100.00")
    expect(page.get_by_test_id("xirr-EUR")).to_contain_text("%")
    chart = page.locator("canvas[data-chart='debtor-data']")
    expect(chart).to_be_visible()
    check_page(page, "investor-portfolio")
    # Charts resize with the window (Chart.js responsive, in a box that fits the column).
    wide = chart.bounding_box()["width"]
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": size["height"]})
    page.wait_for_function("c => c.getBoundingClientRect().width <= 360 - 16",
                           arg=chart.element_handle())
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size(size)
    page.wait_for_function(f"c => Math.abs(c.getBoundingClientRect().width - {wide}) < 2",
                           arg=chart.element_handle())

    page.get_by_role("link", name=re.compile(r"^Statement")).first.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Investment in"))).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("-100.00 EUR")
    check_page(page, "investor-investment-statement")

    # Withdraw part of the remaining cash, with a confirmation step.
    nav_link(page, "Wallet").click()
    check_page(page, "investor-wallet")
    page.get_by_role("button", name="Withdraw to your bank account").click()
    page.get_by_label("Amount to withdraw").fill("250.00")
    page.get_by_role("button", name="Review withdrawal").click()
    expect(page.get_by_role("heading", name="Confirm your withdrawal")).to_be_visible()
    check_page(page, "investor-withdraw-confirm")
    page.get_by_role("button", name=re.compile(r"Confirm and withdraw")).click()
    expect(page.get_by_text(re.compile(r"Withdrawal .* of 250\.00 EUR requested"))).to_be_visible()
    check_page(page, "investor-wallet-after-withdrawal")


def test_ops_approves_a_kyb_in_the_admin_with_two_factor(page, staff, check_page):
    device = TOTPDevice.objects.create(user=staff, name="e2e", confirmed=True)
    applicant = make_user("SELLER", "applicant@example.com")
    kyc_submit_with_document(
        user=applicant,
        legal_name="Bei Spiel GmbH",
        country="DE",
        tax_id="DE136695976",
        address="Musterstr. 1, Berlin",
        document=uploaded(id_card_png(), "register-extract.png", "image/png"),
    )
    profile = KycProfile.objects.get(user=applicant)
    admin_root = "/" + settings.ADMIN_URL

    # The admin sends anonymous visitors to the site's sign-in, which asks for the code.
    page.goto(admin_root)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    check_page(page, "ops-two-factor-code")
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.get_by_label(re.compile("6-digit code")).fill(f"{code:0{device.digits}d}")
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(rf"{admin_root}$"))
    check_page(page, "ops-admin-index")

    page.goto(f"{admin_root}accounts/kycprofile/{profile.pk}/change/")
    preview = page.locator("img[alt='Uploaded document']")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.naturalWidth") > 0  # the staff-only view served it
    check_page(page, "ops-kyc-change-with-document")

    page.goto(f"{admin_root}accounts/kycprofile/")
    page.locator(f"input[name=_selected_action][value='{profile.pk}']").check()
    page.locator("select[name=action]").select_option("approve_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_label(re.compile("Reason")).fill("Register extract matches the VAT id.")
    check_page(page, "ops-kyc-approve-confirm")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Approved 1 profile(s).")).to_be_visible()
    check_page(page, "ops-kyc-approved")
    profile.refresh_from_db()
    assert profile.status == KycStatus.APPROVED
    assert profile.decided_by == staff


def test_staff_enrol_an_authenticator_on_their_first_admin_visit(page, staff, check_page):
    """The demo's path: a staff account without a device is sent from the admin to the set-up
    page, scans the QR code (here: reads the key shown under it) and lands in the admin."""
    import base64

    admin_root = "/" + settings.ADMIN_URL
    page.goto(admin_root)
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.locator("figure.qr-code svg")).to_be_visible()
    check_page(page, "ops-two-factor-setup")

    page.get_by_text("Can't scan? Enter the key by hand").click()
    secret = page.get_by_test_id("totp-secret").inner_text()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label(re.compile("6-digit code")).fill(f"{totp(key):06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page).to_have_url(re.compile(rf"{admin_root}$"))
    expect(page.get_by_text("Two-factor sign-in is on.")).to_be_visible()
    assert TOTPDevice.objects.get(user=staff).confirmed
