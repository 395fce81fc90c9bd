"""Live updates in a real browser: while a second investor funds the listing in another
browser context, the first investor's page - never reloaded - shows the funding bar move and
the bell count go up. The live server is WSGI, so the page's EventSource polls
``/api/v1/events`` (``retry:``); under uvicorn the same events arrive on an open stream
(tests/notifications/test_live.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from marketplace.services import investment_create
from paymint.core import clock
from tests.e2e.conftest import STEP_TIMEOUT_MS, VIEWPORTS
from tests.helpers import LISTING_DAY, STRONG_PASSWORD, deposit, listed_invoice, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_bell_and_the_funding_bar_follow_another_investors_funding(
    page, browser, live_server, seller, make_investor, check_page, settings
):
    settings.LIVE_UPDATES_POLL_RETRY_MS = 500
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        listing = listed_invoice(seller)
        watcher, funder = make_investor(), make_investor()
        deposit(watcher, "1000.00")
        deposit(funder, "1000.00")
        investment_create(investor=watcher, listing=listing, amount="100.00")
        listing.refresh_from_db()
        rest = listing.advance_amount - listing.funded_amount

        # Count the connections htmx's SSE extension opens (the page's only way in).
        page.add_init_script(
            "document.addEventListener('htmx:sseOpen', function () {"
            " window.__sseOpens = (window.__sseOpens || 0) + 1; }, true);"
        )
        sign_in(page, watcher.email, STRONG_PASSWORD)
        page.goto(f"/marketplace/{listing.public_id}/")
        expect(page.locator("#live-updates")).to_have_attribute(
            "sse-connect", re.compile(rf"^/api/v1/events\?listing={listing.public_id}")
        )
        box = page.locator(f"[data-listing-progress='{listing.public_id}']")
        expect(box.locator("progress")).to_have_attribute("value", "19")  # 100 of 513.94
        bell = page.locator("#notification-bell")
        before = int(bell.get_attribute("data-unread"))
        page.evaluate("window.__notReloaded = true")
        check_page(page, "investor-listing-live")

        # The second investor funds the rest in their own browser.
        other = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["desktop"])
        other.set_default_timeout(STEP_TIMEOUT_MS)
        second = other.new_page()
        sign_in(second, funder.email, STRONG_PASSWORD)
        second.goto(f"/marketplace/{listing.public_id}/")
        second.locator("#invest_amount").fill(f"{rest:.2f}")
        second.get_by_role("button", name="Review investment").click()
        second.get_by_role("button", name=re.compile(r"Confirm and invest")).click()
        expect(second.get_by_text(re.compile(r"You funded"))).to_be_visible()
        other.close()

        # No reload: the bar is full and the bell counts the "fully funded" notification.
        expect(box.locator("progress")).to_have_attribute("value", "100")
        expect(bell).to_have_attribute("data-unread", str(before + 1))
        expect(bell.locator(".bell-count")).to_contain_text(str(before + 1))
        assert page.evaluate("window.__notReloaded") is True
        # Under WSGI each answer ends with `retry:`: the browser reconnected many times, the
        # extension saw each opening, and none of them was logged as an error (the page
        # fixture fails the test on any console error).
        assert page.evaluate("window.__sseOpens") >= 2
