"""Steps the browser journeys (tests/e2e, Playwright) share."""

from __future__ import annotations


def sign_in(page, email: str, password: str, *, next_url: str = "/") -> None:
    """Open ``next_url`` through the sign-in page and submit email and password."""
    page.goto(f"/login/?next={next_url}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def wait_for_menu(page) -> None:
    """Wait until app.js has set up the main menu's phone toggle (it marks it data-nav-ready).

    The toggle starts hidden and app.js shows it and collapses the menu when it runs (deferred),
    which can be after a page's heading is already visible; a test that looks at the toggle
    before then sees no button, and then finds the links hidden."""
    page.locator("[data-nav-toggle][data-nav-ready]").wait_for(state="attached")


def nav_link(page, name: str):
    """The main navigation's link ``name``, opening the phone menu first when it is collapsed."""
    wait_for_menu(page)
    nav = page.get_by_role("navigation", name="Main")
    toggle = nav.get_by_role("button", name="Menu")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return nav.get_by_role("link", name=name, exact=True)
