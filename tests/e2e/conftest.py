"""Browser fixtures for the end-to-end journeys: Playwright driving Debian's Chromium against
pytest-django's ``live_server`` (a real server thread on a transactional test database).

Chromium comes from the system (``scripts/setup-system.sh`` installs the ``chromium``
package); Playwright never downloads a browser. When ``/usr/bin/chromium`` is missing the
fixtures install it if running as root, and skip only when they cannot (not root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
STEP_TIMEOUT_MS = 15_000


def _ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.skip(
            "end-to-end tests need Debian's Chromium at /usr/bin/chromium; install it with "
            "`sudo apt-get install -y chromium` (or run scripts/setup-system.sh as root)"
        )
    apt = shutil.which("apt-get")
    assert apt, "/usr/bin/chromium is missing and apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env)  # noqa: S603
    subprocess.run(  # noqa: S603
        [apt, "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=True, env=env
    )
    assert CHROMIUM.exists(), "apt-get installed chromium but /usr/bin/chromium is missing"
    return CHROMIUM


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        reduced_motion="reduce",  # charts draw without animation: stable screenshots
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` writes ``artifacts/screenshots/<name>.png`` (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


def sign_in(page, email: str, password: str, *, next_url: str = "/") -> None:
    """Open ``next_url`` through the sign-in page and submit email and password."""
    page.goto(f"/login/?next={next_url}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
