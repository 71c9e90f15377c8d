"""Acceptance 3 in a real browser: set up the second factor from the account page, log out,
log in with the password and a code computed here, a recovery code works once, and wrong codes
run into the login throttle."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import log_in, open_page, submit_login, wait_home
from tests.e2e.processes import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def log_out(page: Page, hub: HubProcess) -> None:
    page.click("#logout")
    page.wait_for_url(f"{hub.url}/login")


def send_code(page: Page, code: str) -> int:
    """Send the code and wait for the hub's answer; its HTTP status."""
    page.fill("#second-factor-form input[name=code]", code)
    with page.expect_response(lambda r: r.url.endswith("/login/second-factor")) as answer:
        page.click("#second-factor-form button[type=submit]")
    return answer.value.status


def log_in_with_code(page: Page, hub: HubProcess, code: str) -> None:
    submit_login(page, hub)
    expect(page.locator("#second-factor-form")).to_be_visible()
    expect(page.locator("#login-form")).to_be_hidden()
    send_code(page, code)
    wait_home(page, hub)


def test_set_up_log_in_with_codes_and_throttle(
    browser: Browser, hub_process: HubProcess, tmp_path: Path
) -> None:
    page = open_page(browser)
    log_in(page, hub_process)
    page.click("#account-link")
    page.wait_for_url(f"{hub_process.url}/account")
    expect(page.locator("#totp-state")).to_contain_text("Off.")
    page.click("#totp-enrol-form button[type=submit]")
    secret = page.locator("#totp-secret").inner_text().strip()
    assert (page.locator("#totp-qr").get_attribute("src") or "").startswith("data:image/svg+xml")
    page.screenshot(path=tmp_path / "enrol.png", full_page=True)

    # A wrong code first: the form says why and stays.
    page.fill("#totp-confirm-form input[name=code]", "000000")
    page.click("#totp-confirm-form button[type=submit]")
    expect(page.locator("#totp-confirm-form [data-form-error]")).to_have_text(
        "the code is wrong or was already used"
    )
    totp = pyotp.TOTP(secret)
    page.fill("#totp-confirm-form input[name=code]", totp.now())
    page.click("#totp-confirm-form button[type=submit]")
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10, codes
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "codes-phone.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.click("text=Done")
    expect(page.locator("#totp-state")).to_contain_text("On")
    expect(page.locator("#recovery-left")).to_have_text("10")
    log_out(page, hub_process)

    # The step confirmed with is spent; the next one is within the allowed drift.
    log_in_with_code(page, hub_process, totp.at(time.time() + 30))
    log_out(page, hub_process)

    log_in_with_code(page, hub_process, codes[0])
    page.goto(f"{hub_process.url}/account")
    expect(page.locator("#recovery-left")).to_have_text("9")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "status-phone.png", full_page=True)
    log_out(page, hub_process)

    submit_login(page, hub_process)
    assert send_code(page, codes[0]) == 401
    error = page.locator("#second-factor-error")
    expect(error).to_have_text("the code is wrong or was already used")
    page.screenshot(path=tmp_path / "login-code-refused.png", full_page=True)

    # Each wrong code spends the account's login budget; it runs out with a 429.
    statuses = [send_code(page, "000000") for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
    expect(error).to_have_text("too many failed logins; try again later")
    assert page.url == f"{hub_process.url}/login"
