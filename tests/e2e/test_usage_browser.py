"""The Usage page in a real browser at phone width: one meter per plan limit, the limit that
is reached marked, nothing wider than the screen and nothing refused by the CSP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser_pages import CSP_WATCH, log_in
from tests.e2e.processes import ADMIN, PASSWORD, HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_usage_page_at_phone_width(
    browser: Browser, hub_process: HubProcess, tmp_path: Path
) -> None:
    moved = hub_process.cli("hub", "set-plan", "default", "free")
    assert moved.returncode == 0, moved.stderr
    with httpx.Client(base_url=hub_process.url, timeout=10) as api:
        login = api.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        token = login.json()["access_token"]
        api.cookies.clear()
        created = api.post(
            "/api/v1/projects", json={"name": "one"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201, created.text

    violations: list[str] = []
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    log_in(page, hub_process)
    page.goto(f"{hub_process.url}/usage")
    expect(page.locator("h1")).to_contain_text("free plan")
    expect(page.locator("meter")).to_have_count(4)
    expect(page.locator("[data-limit=projects].full .usage-count")).to_have_text("1 of 1")
    expect(page.locator("[data-limit=seats] .usage-count")).to_have_text("1 of 3")
    expect(page.locator(".admin-tabs a.active")).to_have_text("Usage")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=tmp_path / "usage-390.png", full_page=True)
    assert violations == []
    context.close()
