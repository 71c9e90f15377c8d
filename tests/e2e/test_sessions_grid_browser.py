"""Issue 14, acceptance 1, on the real hub, daemon and tmux: the sessions grid shows what a
session prints without opening it, its activity state going working -> idle, an inbox item
making it "waiting" and putting it first, and a line typed into a tile reaching the session."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in
from tests.e2e.terminal_support import Fleet, tmux_on
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)
IDLE_AFTER = {"ORCHESTRATIA_GRID_IDLE_SECONDS": "2"}


def _start(fleet: Fleet, name: str, cwd: Path) -> dict[str, Any]:
    res = fleet.api.post(
        "/api/v1/sessions",
        json={"server_id": fleet.server_id, "name": name, "working_directory": str(cwd)},
    )
    assert res.status_code == 201, res.text
    sid = str(res.json()["id"])

    def running() -> dict[str, Any] | None:
        body = fleet.api.get(f"/api/v1/sessions/{sid}").json()
        return body if body["status"] == "running" and body["tmux_name"] else None

    return dict(wait_sync(running, 20, f"session {name} running (log: {fleet.daemon.log})"))


def _tile(page: Page, session: dict[str, Any]) -> Any:
    return page.locator(f"#session-{session['id']}")


@pytest.mark.parametrize("hub_env", [IDLE_AFTER], indirect=True)
def test_grid_shows_output_state_and_waiting_first(
    browser: Browser, fleet: Fleet, tmp_path: Path
) -> None:
    alpha = _start(fleet, "alpha", tmp_path)
    zulu = _start(fleet, "zulu", tmp_path)
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/sessions?project_id={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    tile = _tile(page, alpha)

    # Printed in the session, never opened: the tile's miniature shows it, and it is working.
    # (The shell computes 42, so the echoed command line alone cannot match.)
    tmux_on(fleet.socket, "send-keys", "-t", alpha["tmux_name"], "echo grid-$((6*7))", "Enter")
    expect(tile.locator('[data-field="screen"]')).to_contain_text("grid-42")
    expect(tile.locator('[data-field="state"]')).to_have_text("working")
    expect(tile.locator('[data-field="state"]')).to_have_text("idle")

    # A tool call waiting for approval: zulu waits for a person and comes first.
    first = page.locator(".session-card").first
    expect(first).to_have_attribute("data-session-id", alpha["id"])
    key = yaml.safe_load(fleet.daemon.config.read_text())["api_key"]
    with httpx.Client(base_url=fleet.hub.url, headers={"X-API-Key": key}, timeout=10) as agent:
        asked = agent.post(
            "/api/v1/server/approvals",
            json={"session_id": zulu["id"], "agent": "claude", "tool": "Bash",
                  "tool_input": {"command": "make deploy"}},
        )  # fmt: skip
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending", asked.text
    expect(_tile(page, zulu).locator('[data-field="state"]')).to_have_text("waiting")
    expect(first).to_have_attribute("data-session-id", zulu["id"])

    # The state filter keeps only what waits.
    page.select_option("#filter-state", "waiting")
    expect(page.locator(".session-card:visible")).to_have_count(1)
    page.select_option("#filter-state", "")

    # Hover a tile and type a line into its session.
    tile.hover()
    line = tile.locator(".session-type input")
    line.fill("echo typed-$((2+3))")
    line.press("Enter")
    expect(tile.locator('[data-field="screen"]')).to_contain_text(re.compile(r"^typed-5$", re.M))
    page.screenshot(path=tmp_path / "grid.png", full_page=True)


def test_grid_fits_a_phone(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    session = _start(fleet, "wide", tmp_path)
    tmux_on(fleet.socket, "send-keys", "-t", session["tmux_name"], "printf '%0300d\\n' 7", "Enter")
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/sessions?project_id={fleet.project_id}")
    expect(_tile(page, session).locator('[data-field="screen"]')).to_contain_text("0007")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=tmp_path / "grid-phone.png", full_page=True)
