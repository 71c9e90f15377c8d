"""The account page's Telegram/email grid in Chromium: ticking a box saves it at once (the API
then answers the new choice), and the page says whether Telegram is linked and mail set up."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser_pages import log_in, open_page
from tests.e2e.processes import HubProcess, api_client

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PREFS = "/api/v1/account/notifications"


def test_ticking_a_box_saves_the_choice(browser: Browser, hub_process: HubProcess) -> None:
    api = api_client(hub_process)
    hub_process.closing.append(api)
    page = open_page(browser)
    log_in(page, hub_process)
    page.goto(f"{hub_process.url}/account")
    completed = page.get_by_label("A task completed by email")
    help_by_telegram = page.get_by_label("An agent asks for help by Telegram")
    expect(completed).not_to_be_checked()
    expect(help_by_telegram).to_be_checked()
    expect(page.locator("#telegram-status")).to_contain_text("not linked yet")
    expect(page.locator("#email-status")).to_contain_text("No mail server")

    completed.check()
    expect(page.locator("#channel-saved")).to_be_visible()
    help_by_telegram.uncheck()
    expect(page.locator("#channel-saved")).to_be_visible()
    chosen = api.get(PREFS).json()
    assert chosen["email"] == ["intervention.created", "task.completed", "task.failed"]
    assert "intervention.created" not in chosen["telegram"]
    page.reload()
    expect(page.get_by_label("A task completed by email")).to_be_checked()
    expect(page.get_by_label("An agent asks for help by Telegram")).not_to_be_checked()
    page.close()
