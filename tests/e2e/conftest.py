"""Browser fixtures for the end-to-end journeys: Playwright driving Debian's Chromium against
pytest-django's ``live_server`` (a real server thread on a transactional test database).

Chromium comes from the system (``scripts/setup-system.sh`` installs the ``chromium``
package); Playwright never downloads a browser. When ``/usr/bin/chromium`` is missing the
fixtures install it if running as root, and skip only when they cannot (not root).

Every journey runs at two widths (``desktop`` 1280 px and ``phone`` 390 px), with the site's
Content-Security-Policy on. ``check_page(page, name)`` is called on each page under test:

* no horizontal overflow (``document.documentElement.scrollWidth <= innerWidth``), also with
  the window at the ends of the supported range (360 px for the phone run, 1440 px for the
  desktop run);
* no serious or critical axe-core violation (axe-playwright-python, which ships axe.min.js);
* no button, form control, menu link, page link or chip under 44 x 44 px (site pages);
* no console error, uncaught page error or CSP violation so far (``securitypolicyviolation``
  events are reported to Python through an exposed binding, and Chromium's own
  "Refused to ..." console messages count as console errors);
* a full-page screenshot ``artifacts/screenshots/<name>-<width>.png`` (git-ignored).

The figures of every checked page go to ``artifacts/e2e-audit.jsonl`` (one JSON object a
line). ``E2E_AUDIT_SOFT=1`` records them without failing (to measure a page before fixing it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
AUDIT_LOG = ARTIFACTS / "e2e-audit.jsonl"
STEP_TIMEOUT_MS = 15_000

#: The widths every journey runs at: a laptop and a phone (iPhone 12-15: 390 x 844 CSS px).
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
#: The ends of the supported range, measured too (overflow only) on each checked page: the
#: phone run also at 360 px, the desktop run also at 1440 px.
EXTRA_WIDTHS = {"desktop": 1440, "phone": 360}
#: axe-core impacts that fail a page.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
SOFT = os.environ.get("E2E_AUDIT_SOFT") == "1"

#: The innermost elements that stick out on the right (to say what overflows).
OVERFLOW_CULPRITS = """
() => {
  const limit = document.documentElement.clientWidth + 1;
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right <= limit || r.width === 0) continue;
    let clipped = false;  // inside its own scroll container: does not widen the page
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") { clipped = true; break; }
    }
    if (clipped) continue;
    const scrolls = getComputedStyle(el).overflowX !== "visible";
    if (!scrolls && [...el.children].some(c => c.getBoundingClientRect().right > limit)) continue;
    let name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.classList.length ? "." + [...el.classList].join(".") : "");
    if (el.parentElement) name = el.parentElement.tagName.toLowerCase() + " > " + name;
    out.push(name + " (right " + Math.round(r.right) + ")");
    if (out.length >= 8) break;
  }
  return out;
}
"""

#: Controls smaller than 44 x 44 CSS px (WCAG 2.5.5): buttons, form controls, the menu, page
#: navigation, chips and row actions; a checkbox or radio counts with its label. Links inside
#: running text are exempt (WCAG's inline exception), as is the skip link (off-screen).
MIN_TARGET_PX = 44
SMALL_TARGETS = """
(min) => {
  const selector = "button, [role=button], input:not([type=hidden]):not([type=checkbox])" +
    ":not([type=radio]), select, textarea, summary, nav a, .pagination a, a.chip," +
    " td.row-action a, label:has(> input[type=checkbox]), label:has(> input[type=radio])";
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest(".skip-link, [hidden]")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;  // not displayed (e.g. a closed menu)
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (r.height < min - 0.5 || r.width < min - 0.5) {
      const text = (el.innerText || el.value || el.name || el.tagName).trim().slice(0, 30);
      out.push(el.tagName.toLowerCase() + " '" + text + "' " + Math.round(r.width) + "x" +
               Math.round(r.height));
    }
  }
  return out.slice(0, 10);
}
"""

#: Reports CSP violations to Python as they happen (the page's own state is lost on navigation).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__pmCspViolation({directive: e.violatedDirective, blocked: e.blockedURI,
                           source: e.sourceFile, line: e.lineNumber, sample: e.sample,
                           page: document.location.pathname});
});
"""


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
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as steps do (an upload is read while the request runs; on a
    # loaded 2-CPU machine that can take longer than expect's 5 s default).
    expect.set_options(timeout=STEP_TIMEOUT_MS)

    executable = _ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class BrowserProblems:
    """What went wrong in the browser since the page was opened."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)
    #: console error texts a test expects (e.g. the 400 of a rejected form), matched by substring
    expected: list[str] = field(default_factory=list)

    def unexpected_console_errors(self) -> list[str]:
        return [m for m in self.console_errors if not any(e in m for e in self.expected)]

    def as_dict(self) -> dict:
        return {"console_errors": self.unexpected_console_errors(),
                "page_errors": self.page_errors, "csp_violations": self.csp_violations}

    def __bool__(self) -> bool:
        return bool(self.unexpected_console_errors() or self.page_errors or self.csp_violations)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    """The width the journey runs at: ``desktop`` (1280 px) or ``phone`` (390 px)."""
    return request.param


@pytest.fixture
def page(browser, live_server, viewport):
    """A fresh browser context (no cookies) whose relative URLs go to the live server, at the
    parametrized width, recording console errors and CSP violations in ``page.problems``."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport=VIEWPORTS[viewport],
        reduced_motion="reduce",  # charts draw without animation: stable screenshots
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    problems = BrowserProblems()
    context.expose_binding("__pmCspViolation",
                           lambda source, violation: problems.csp_violations.append(violation))
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.on("console", lambda msg: problems.console_errors.append(
        f"{msg.text} ({msg.location.get('url') or page.url})") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.page_errors.append(f"{exc} ({page.url})"))
    page.problems = problems
    page.viewport_name = viewport
    yield page
    context.close()
    if not SOFT:
        assert not problems, f"browser problems: {problems.as_dict()}"


def _axe_blocking(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING_IMPACTS
    ]


def audit_page(page, name: str) -> dict:
    """Measure the current page (overflow, axe, browser problems) and screenshot it."""
    page.wait_for_load_state("load")
    width = VIEWPORTS[page.viewport_name]["width"]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    size = page.viewport_size
    page.set_viewport_size({**size, "width": EXTRA_WIDTHS[page.viewport_name]})
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    overflow_extra = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(size)
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    record = {
        "page": name,
        "width": width,
        "path": urlsplit(page.url).path,
        "overflow_px": max(0, overflow),
        "extra_width": EXTRA_WIDTHS[page.viewport_name],
        "overflow_px_extra": max(0, overflow_extra),
        "overflowing": page.evaluate(OVERFLOW_CULPRITS) if overflow > 0 else [],
        "axe": _axe_blocking(page),
        # The back office is Django's admin, used from a desk: targets are checked on the site.
        "small_targets": [] if urlsplit(page.url).path.startswith("/" + settings.ADMIN_URL)
        else page.evaluate(SMALL_TARGETS, MIN_TARGET_PX),
        **page.problems.as_dict(),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with AUDIT_LOG.open("a") as log:
        log.write(json.dumps(record) + "\n")
    return record


@pytest.fixture
def check_page():
    """``check_page(page, name)``: audit the page (see the module docstring) and fail on any
    overflow, serious/critical axe violation, console error or CSP violation."""

    def _check(page, name: str) -> dict:
        record = audit_page(page, name)
        if not SOFT:
            assert record["overflow_px"] == 0, (
                f"{name} at {record['width']} px scrolls sideways by {record['overflow_px']} px")
            assert record["overflow_px_extra"] == 0, (
                f"{name} at {record['extra_width']} px scrolls sideways by "
                f"{record['overflow_px_extra']} px")
            assert not record["axe"], f"{name} at {record['width']} px: axe {record['axe']}"
            assert not record["small_targets"], (
                f"{name} at {record['width']} px: targets under {MIN_TARGET_PX} px "
                f"{record['small_targets']}")
            assert not page.problems, f"{name}: browser problems {page.problems.as_dict()}"
        return record

    return _check
