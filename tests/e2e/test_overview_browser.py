"""The overview is the home page: logging in lands on it, and it shows the real fleet (a daemon
online, a stand-in agent working a task), keeps itself current and fits a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser_pages import log_in, open_page
from tests.e2e.processes import HubProcess
from tests.e2e.task_support import task_rig

pytestmark = pytest.mark.e2e

TITLE = "Index the logs"


def test_login_lands_on_the_overview(
    browser: Browser, hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> None:
    with task_rig(hub_process, daemon_factory, tmp_path, "home", {"alpha": True}) as rig:
        gate = tmp_path / "may-finish"
        agent = rig.start_agent(
            "worker", rig.servers["alpha"], {"tasks": {TITLE: {"wait_for": str(gate)}}}
        )
        made = rig.api.post("/api/v1/tasks", json={"project_id": rig.project_id, "title": TITLE})
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]
        res = rig.api.post(f"/api/v1/tasks/{task_id}/assign", json={"session_name": agent.name})
        assert res.status_code == 200, res.text
        rig.wait_status(task_id, "running")

        page = open_page(browser)
        log_in(page, rig.hub)
        assert page.url == f"{rig.hub.url}/overview"
        expect(page.locator("nav.nav a.active")).to_have_text("Overview")
        expect(page.locator('[data-field="servers-online"] b')).to_have_text("1")
        expect(page.locator('[data-field="servers-offline"] b')).to_have_text("0")
        expect(page.locator('[data-field="sessions-running"] b')).to_have_text("1")
        expect(page.locator('[data-field="tasks-running"] b')).to_have_text("1")
        running = page.locator(f'#ov-tasks a[href="/tasks/{task_id}"]')
        expect(running).to_have_text(TITLE)
        expect(page.locator("#ov-recent .ov-list li").first).to_be_visible()

        # The panels refresh themselves: once the agent finishes, the task leaves "running"
        # without a reload.
        page.evaluate("window.__noReload = 1")
        gate.touch()
        rig.wait_status(task_id, "done")
        expect(page.locator('[data-field="tasks-running"] b')).to_have_text("0", timeout=12_000)
        assert page.evaluate("window.__noReload") == 1
        expect(running).to_have_count(0)

        # The site's root is the overview too, and all projects are one click away.
        page.goto(rig.hub.url + "/")
        page.wait_for_url(re.compile(r"/overview$"))
        page.click("text=All projects")
        page.wait_for_url(re.compile(r"/overview\?all=1$"))
        expect(page.locator("h1")).to_contain_text("all projects (1)")

        phone = open_page(browser, 390, 844)
        log_in(phone, rig.hub)
        expect(phone.locator('[data-field="servers-online"] b')).to_have_text("1")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        running_box = phone.locator("#ov-tasks").bounding_box()
        assert running_box is not None and running_box["width"] <= 390
