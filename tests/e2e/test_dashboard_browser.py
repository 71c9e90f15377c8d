"""Acceptance 2 in a real browser: log in, register a server from the page, watch it go live."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import log_in, submit_login
from tests.e2e.processes import DaemonProcess, HubProcess, api_client

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Generous for a loaded CI runner; the happy path takes well under a second. Expectations that
# wait on a daemon process starting pass DAEMON_TIMEOUT_MS; the rest keep expect's 5 s default.
UI_TIMEOUT_MS = 10_000
DAEMON_TIMEOUT_MS = 15_000


def open_page(browser: Browser) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(UI_TIMEOUT_MS)
    return page


def still_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__noReload === 1"))


def test_register_server_and_watch_it_live(
    browser: Browser, hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> None:
    page = open_page(browser)
    log_in(page, hub_process)
    expect(page.locator("h1")).to_have_text("Create your first project")

    # The form posts with htmx; the hub answers with HX-Redirect to the new project's fleet page.
    page.fill("input[name=name]", "browser-e2e")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/fleet\?project_id="))
    expect(page.locator("h1")).to_contain_text("browser-e2e")
    live = page.locator("#live-indicator")
    expect(live).to_have_text("live")
    expect(page.locator("#fleet-empty")).to_be_visible()

    page.evaluate("window.__noReload = 1")
    page.click("#register-server")
    token = page.locator("#registration-token").inner_text().strip()
    assert token.startswith("orcreg_"), token
    expect(page.locator("#install-command")).to_contain_text(token)
    page.screenshot(path=tmp_path / "token.png", full_page=True)

    daemon: DaemonProcess = daemon_factory()
    registered = daemon.register(token)
    assert registered.returncode == 0, registered.stderr
    daemon.start()

    row = page.locator("tr[data-server-id]")
    badge = row.locator('[data-field="status"]')
    expect(badge).to_have_text("online", timeout=DAEMON_TIMEOUT_MS)
    expect(row).to_have_count(1)
    expect(page.locator("#fleet-empty")).to_be_hidden()
    # Heartbeats carry system info; the row is patched in place as they arrive.
    expect(row.locator('[data-field="cpu"]')).to_have_text(
        re.compile(r"^\d+%$"), timeout=DAEMON_TIMEOUT_MS
    )
    expect(row.locator('[data-field="memory"]')).to_have_text(re.compile(r"^\d+%$"))
    expect(row.locator('[data-field="last_seen"]')).to_have_text(re.compile(r"^\d+s ago$"))
    expect(live).to_have_text("live")
    assert still_same_document(page)
    page.screenshot(path=tmp_path / "online.png", full_page=True)

    daemon.kill(signal.SIGKILL)
    timeout_s = float(daemon.env["ORCHESTRATIA_HEARTBEAT_TIMEOUT"])
    expect(badge).to_have_text("disconnected", timeout=(timeout_s + 2) * 1000)
    expect(badge).to_have_class(re.compile(r"\bdisconnected\b"))
    expect(row).to_have_count(1)
    assert still_same_document(page)
    page.screenshot(path=tmp_path / "disconnected.png", full_page=True)


def test_wrong_password_and_project_switcher(browser: Browser, hub_process: HubProcess) -> None:
    page = open_page(browser)
    submit_login(page, hub_process, password="not-the-password")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("invalid email or password")
    assert page.url == f"{hub_process.url}/login"

    client = api_client(hub_process)
    hub_process.closing.append(client)
    for name in ("alpha", "beta"):
        res = client.post("/api/v1/projects", json={"name": name})
        assert res.status_code == 201, res.text

    log_in(page, hub_process)
    options = page.locator("#project-switcher option")
    expect(options).to_have_text(["alpha", "beta"])

    # Switching reloads the page for the chosen project.
    page.select_option("#project-switcher", label="beta")
    page.wait_for_url(re.compile(r"/overview\?project_id="))
    expect(page.locator("h1")).to_contain_text("beta")
    expect(page.locator("#project-switcher option:checked")).to_have_text("beta")


def test_burst_of_updates_for_a_new_server_adds_one_row(
    browser: Browser, hub_process: HubProcess
) -> None:
    client = api_client(hub_process)
    hub_process.closing.append(client)
    res = client.post("/api/v1/projects", json={"name": "burst"})
    assert res.status_code == 201, res.text
    project = res.json()["id"]
    page = open_page(browser)
    log_in(page, hub_process)
    page.goto(f"{hub_process.url}/fleet")
    expect(page.locator("#live-indicator")).to_have_text("live")

    # The public agent's REST path: register, then heartbeats right away. Each one announces the
    # still-unknown server before the page has fetched its row.
    res = client.post("/api/v1/servers/tokens", json={"project_id": project})
    assert res.status_code == 201, res.text
    with httpx.Client(base_url=hub_process.url, timeout=10) as agent:
        res = agent.post(
            "/api/v1/servers/register",
            json={"name": "burst-1", "registration_token": res.json()["token"]},
        )
        assert res.status_code == 200, res.text
        key = {"X-API-Key": res.json()["api_key"]}
        for cpu in (10, 20, 30):
            beat = agent.post(
                "/api/v1/servers/heartbeat", headers=key, json={"system_info": {"cpu_percent": cpu}}
            )
            assert beat.status_code == 200, beat.text

    row = page.locator("tr[data-server-id]")
    expect(row.locator('[data-field="cpu"]')).to_have_text("30%")
    expect(row.locator('[data-field="status"]')).to_have_text("online")
    expect(row).to_have_count(1)
