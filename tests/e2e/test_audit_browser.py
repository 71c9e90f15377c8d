"""The Audit page in headless Chromium, on a desktop and a phone: filter, load more, export,
with no CSP violation and no page wider than the phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import CSP_WATCH, log_in
from tests.e2e.processes import HubProcess, api_client

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _rows(page: Page) -> int:
    return page.locator("#audit-rows tr.audit-row").count()


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_audit_page_filters_loads_more_and_exports(
    browser: Browser, hub_process: HubProcess, tmp_path: Path, width: int, height: int
) -> None:
    api = api_client(hub_process)
    hub_process.closing.append(api)
    project = api.post("/api/v1/projects", json={"name": "audited"}).json()["id"]
    for i in range(60):
        res = api.post("/api/v1/tasks", json={"project_id": project, "title": f"t{i}"})
        assert res.status_code == 201, res.text

    violations: list[str] = []
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, hub_process)
    total = len(api.get("/api/v1/audit", params={"limit": 500}).json()["events"])
    page.goto(f"{hub_process.url}/audit")
    expect(page.locator("#audit-rows tr.audit-row")).to_have_count(50)
    page.screenshot(path=tmp_path / f"audit-{width}.png")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen ({tmp_path})"

    page.click("#audit-load-more")
    expect(page.locator("#audit-rows tr.audit-row")).to_have_count(total)
    expect(page.locator("#audit-load-more")).to_have_count(0)

    page.fill("input[name=action]", "auth.")
    page.click("#audit-filter")
    expect(page.locator("#audit-rows code", has_text="auth.login").first).to_be_visible()
    expect(page.locator("#audit-rows code", has_text="task.created")).to_have_count(0)

    page.fill("input[name=action]", "")
    page.fill("input[name=actor]", "x" * 10)
    page.fill("input[name=target_id]", "nothing-like-this")
    page.click("#audit-filter")
    expect(page.locator("#audit-rows tr.audit-row")).to_have_count(0)

    page.fill("input[name=actor]", "")
    page.fill("input[name=target_id]", "")
    page.fill("input[name=action]", "task.created")
    with page.expect_download() as info:
        page.click("#audit-export-csv")
    saved = tmp_path / "audit.csv"
    info.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert len(lines) == 61 and lines[0].startswith("id,created_at,")
    assert not violations, violations
    context.close()
