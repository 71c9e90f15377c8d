"""The dashboard in headless Chromium: a fresh page and the login form."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from tests.e2e.processes import ADMIN, PASSWORD, HubProcess

# Generous for a loaded CI runner; each step takes well under a second here.
UI_TIMEOUT_MS = 15_000


def open_page(browser: Browser, width: int = 1400, height: int = 900) -> Page:
    """A page in a fresh browser context (no cookies), waiting up to ``UI_TIMEOUT_MS``."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    return page


def submit_login(page: Page, hub: HubProcess, email: str = ADMIN, password: str = PASSWORD) -> None:
    """Fill in and send the login form, whatever the hub answers."""
    page.goto(f"{hub.url}/login")
    page.fill("#login-form input[name=email]", email)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


def log_in(page: Page, hub: HubProcess, email: str = ADMIN) -> None:
    """Log in and land on the home page."""
    submit_login(page, hub, email)
    wait_home(page, hub)


def wait_home(page: Page, hub: HubProcess) -> None:
    """Wait for the page a login lands on: the overview, or, for someone without a project yet,
    the fleet page, where the first one is made."""
    page.wait_for_url(re.compile(re.escape(hub.url) + r"/(overview|fleet)$"))


# Reports every CSP violation to the test (expose ``reportCspViolation`` before a page loads).
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.reportCspViolation(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


# Every line of xterm's buffer (scrollback and screen), trailing blanks trimmed.
SCREEN_JS = """() => {
  const b = window.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
  return lines.join("\\n");
}"""


def screen(page: Page) -> str:
    """The text of the terminal open in ``page`` (its ``window.term``)."""
    return str(page.evaluate(SCREEN_JS))
