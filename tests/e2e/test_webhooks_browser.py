"""The Webhooks pages in a real browser, at desktop and phone width under the CSP: an endpoint
made on the page to a real receiver shows its secret once, a test event lands in its delivery
log, the secret is rotated and the endpoint deleted after confirmation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser_pages import CSP_WATCH, UI_TIMEOUT_MS, log_in, open_page
from tests.e2e.processes import HubProcess, api_client
from tests.webhook_receiver import webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
# The receiver listens on 127.0.0.1, which the hub refuses unless told otherwise.
PRIVATE_ALLOWED = {"ORCHESTRATIA_WEBHOOK_ALLOW_PRIVATE": "true"}


@pytest.mark.parametrize("hub_env", [PRIVATE_ALLOWED], indirect=True)
@pytest.mark.parametrize("width", [1400, 390])
def test_make_test_rotate_and_delete_an_endpoint(
    browser: Browser, hub_process: HubProcess, tmp_path: Path, width: int
) -> None:
    api = api_client(hub_process)
    hub_process.closing.append(api)
    assert api.post("/api/v1/projects", json={"name": "acme-web"}).status_code == 201
    page = open_page(browser, width, 900 if width > 400 else 844)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.expose_function("reportCspViolation", lambda text: problems.append(f"CSP: {text}"))
    page.add_init_script(CSP_WATCH)
    log_in(page, hub_process)
    with webhook_receiver() as receiver:
        page.goto(f"{hub_process.url}/webhooks")
        expect(page.locator(".admin-tabs a.active")).to_have_text("Webhooks")
        expect(page.locator("#no-webhooks")).to_be_visible()
        form = page.locator("#webhook-form")
        error = form.locator("[data-form-error]")
        form.locator("button[type=submit]").click()
        expect(error).to_have_text("Give the URL the hub should POST to.")
        form.locator("input[name=url]").fill("ftp://files.example.com/drop")
        form.locator("button[type=submit]").click()
        expect(error).to_contain_text("must start with http:// or https://")
        form.locator("input[name=url]").fill(receiver.url)
        form.locator("[data-all-events]").uncheck()
        form.locator("button[type=submit]").click()
        expect(error).to_have_text("Tick at least one event, or all events.")
        form.locator("input[value='task.failed']").check()
        form.locator("input[value='approval.requested']").check()
        form.locator("input[name=description]").fill("ops pager")
        form.locator("button[type=submit]").click()

        shown = page.locator("#new-secret")
        expect(shown).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$"))
        expect(page.locator("#secret-shown")).to_contain_text("you will not see it again")
        secret = shown.inner_text().strip()
        page.screenshot(path=tmp_path / f"webhook-created-{width}.png", full_page=True)
        page.click("#created-link a")

        page.wait_for_url(re.compile(r"/webhooks/[0-9a-f-]{36}$"))
        assert secret not in page.content()  # shown once: never again
        expect(page.locator(".hook-title")).to_have_text(receiver.url)
        expect(page.locator(".hook-meta")).to_contain_text("no deliveries yet")
        expect(page.locator("#no-deliveries")).to_be_visible()
        page.click("#send-test")
        outcome = page.locator("#action-outcome")
        # The hub waits up to 10 s for the delivery worker's first attempt.
        expect(outcome).to_have_text(
            re.compile(r"^(Delivered: the receiver answered HTTP 200|The test event is queued)"),
            timeout=UI_TIMEOUT_MS,
        )
        row = page.locator("li.delivery").first
        expect(row).to_contain_text("webhook.test")
        expect(row.locator(".badge")).to_have_text(re.compile(r"^(pending|succeeded)$"))
        row.locator("summary").click()
        event_id = row.locator(".delivery-body code").first.inner_text()
        assert re.fullmatch(r"msg_[0-9a-f]{32}", event_id), event_id
        # A delivery worker, once one runs, sends the row's event with the row's webhook-id.
        assert all(r.headers["webhook-id"] == event_id for r in receiver.received)
        page.screenshot(path=tmp_path / f"webhook-log-{width}.png", full_page=True)

        page.on("dialog", lambda d: d.accept())
        page.click("#rotate-form button[type=submit]")
        expect(shown).to_have_text(re.compile(r"^whsec_"))
        expect(page.locator("#secret-overlap")).to_contain_text("previous secret keeps signing")
        assert shown.inner_text().strip() != secret
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        page.click("#delete-hook")
        page.wait_for_url(f"{hub_process.url}/webhooks")
        expect(page.locator("#no-webhooks")).to_be_visible()
    assert api.get("/api/v1/webhooks").json() == {"webhooks": []}
    # The browser logs the one refusal the test provoked (the ftp:// URL); nothing else.
    refused = [p for p in problems if "status of 422" in p]
    assert len(refused) == 1 and [p for p in problems if p not in refused] == [], problems
