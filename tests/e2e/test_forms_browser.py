"""The quick start's forms in a real browser: refusals read as sentences naming the field, the
register dialog warns of a loopback hub URL and takes another, a new approval rule starts at
``ask``, and a missing task leads back to the board (issue 11, items 22 and 25)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from orchestratia.protocol.tokens import decode_hub_url as decode_hub_url_of
from tests.e2e.browser_pages import log_in
from tests.e2e.processes import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def shoot(page: Page, path: Path, name: str) -> None:
    """Desktop and phone screenshots of the page as it is, for a person to look at."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=path / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def test_forms_speak_sentences(browser: Browser, hub_process: HubProcess, tmp_path: Path) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(10_000)
    log_in(page, hub_process)

    # A blank project name is refused with a sentence, next to the form.
    page.fill("input[name=name]", "   ")
    page.click("button:has-text('Create project')")
    expect(page.locator("[data-form-error]")).to_have_text("Name must not be blank.")
    shoot(page, tmp_path, "project-blank")
    page.fill("input[name=name]", "forms")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/fleet\?project_id="))

    # The hub listens on 127.0.0.1: the token's URL reaches this machine only, and it says so.
    page.click("#register-server")
    expect(page.locator("#loopback-warning")).to_contain_text("ORCHESTRATIA_PUBLIC_URL")
    shoot(page, tmp_path, "register-loopback")
    page.fill("#hub-url-input", "ftp://hub.example.com")
    page.click("#hub-url-form button[type=submit]")
    expect(page.locator("#hub-url-error")).to_have_text(
        "Hub URL must start with http:// or https:// and name a host."
    )
    expect(page.locator("#registration-token")).to_have_count(0)
    page.fill("#hub-url-input", "https://hub.example.com")
    page.click("#hub-url-form button[type=submit]")
    token = page.locator("#registration-token")
    expect(token).to_have_text(re.compile(r"^orcreg_"))
    assert decode_hub_url_of(token.inner_text().strip()) == "https://hub.example.com"
    expect(page.locator("#loopback-warning")).to_have_count(0)
    shoot(page, tmp_path, "register-custom")

    # A new rule starts at "ask"; a missing name is named in a sentence by the field.
    page.click("nav >> text=Permissions")
    page.wait_for_url(re.compile(r"/permissions$"))
    page.click("#new-rule")
    expect(page.locator("#rule-action")).to_have_value("ask")
    page.fill("#rule-name", "  ")
    page.fill("#rule-tool", "Bash")
    page.click("#rule-submit")
    name_error = page.locator('#rule-form [data-error-for="name"]')
    expect(name_error).to_have_text("Name must not be empty.")  # the dialog trims it
    shoot(page, tmp_path, "rule-blank")

    # A task that does not exist leads back to the task board.
    page.goto(f"{hub_process.url}/tasks/{uuid.uuid4()}")
    back = page.locator("#error-page a")
    expect(back).to_have_text("Back to the task board")
    expect(back).to_have_attribute("href", "/tasks")
    shoot(page, tmp_path, "task-404")
    assert page.request.get(f"{hub_process.url}/favicon.ico").ok
