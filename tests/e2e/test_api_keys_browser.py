"""The API keys page in a real browser, at desktop and phone width under the CSP: a key is made
with a scope, shown once, works on the API, and stops working once revoked there."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser_pages import log_in, open_page
from tests.e2e.processes import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.mark.parametrize("width", [1400, 390])
def test_make_use_and_revoke_a_key(
    browser: Browser, hub_process: HubProcess, tmp_path: Path, width: int
) -> None:
    page = open_page(browser, width, 900 if width > 400 else 844)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, hub_process)
    page.goto(f"{hub_process.url}/api-keys")
    expect(page.locator(".admin-tabs a.active")).to_have_text("API keys")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-form [data-form-error]")).to_have_text("Give the key a name.")
    page.fill("#key-form input[name=name]", "nightly report")
    page.check("#key-form input[value='tasks:read']")
    page.click("#key-form button[type=submit]")
    shown = page.locator("#new-key")
    expect(shown).to_have_text(re.compile(r"^orck_"))
    page.screenshot(path=tmp_path / f"api-key-created-{width}.png", full_page=True)
    key = shown.inner_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{hub_process.url}/api/v1/tasks", headers=auth).status_code == 200
    assert httpx.post(f"{hub_process.url}/api/v1/tasks", headers=auth, json={}).status_code == 403

    page.click("a:has-text('Done')")
    row = page.locator("#keys tbody tr", has_text="nightly report")
    expect(row).to_contain_text("tasks:read")
    expect(row).to_contain_text(key[:11])
    assert key not in page.content()  # shown once: never again
    page.screenshot(path=tmp_path / f"api-keys-list-{width}.png", full_page=True)
    page.on("dialog", lambda d: d.accept())
    row.locator("[data-revoke]").click()
    expect(row).to_contain_text("revoked")
    assert httpx.get(f"{hub_process.url}/api/v1/tasks", headers=auth).status_code == 401
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == [], problems
