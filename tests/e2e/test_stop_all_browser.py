"""Issue 14, the kill switch, in a real browser on the real hub, daemon and tmux: two agents (one
deaf to Ctrl-C), "Stop all agents" confirmed by typing the project's name, both sessions end
within the grace, the paused banner shows, a new task waits, and Resume lets it be placed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import CSP_WATCH, UI_TIMEOUT_MS, log_in
from tests.e2e.processes import ADMIN, HubProcess
from tests.e2e.task_support import TaskRig, task_rig, tmux
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)
GRACE = 3.0
PROJECT = "killswitch"


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[TaskRig]:
    with task_rig(hub_process, daemon_factory, tmp_path, PROJECT, {"alpha": False}) as made:
        yield made


def start(rig: TaskRig, name: str, command: str) -> str:
    res = rig.api.post(
        "/api/v1/sessions",
        json={
            "server_id": rig.servers["alpha"].id,
            "name": name,
            "working_directory": str(rig.root),
            "command": command,
        },
    )
    assert res.status_code == 201, res.text
    sid = str(res.json()["id"])
    wait_sync(lambda: rig.session(sid)["status"] == "running", 20, f"session {name} running")
    return sid


def watched_page(browser: Browser, violations: list[str], width: int, height: int) -> Page:
    """A fresh signed-in page whose CSP violations land in ``violations``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    return page


def confirm_stop(page: Page) -> None:
    page.click("#stop-all")
    expect(page.locator("#stop-all-dialog")).to_be_visible()
    page.fill("#stop-all-reason", "drill")
    page.fill("#stop-all-confirm", "not the name")
    expect(page.locator("#stop-all-submit")).to_be_disabled()
    page.fill("#stop-all-confirm", PROJECT)
    expect(page.locator("#stop-all-submit")).to_be_enabled()
    page.click("#stop-all-submit")


@pytest.mark.parametrize("hub_env", [{"ORCHESTRATIA_STOP_ALL_GRACE": str(GRACE)}], indirect=True)
def test_stop_all_agents_from_the_sessions_page(browser: Browser, rig: TaskRig) -> None:
    settings = rig.api.patch(
        f"/api/v1/projects/{rig.project_id}/task-settings", json={"auto_assign": True}
    )
    assert settings.status_code == 200, settings.text
    polite = start(rig, "polite", "sleep 1000")
    stubborn = start(rig, "stubborn", "trap '' INT; sleep 1000")

    violations: list[str] = []
    page = watched_page(browser, violations, 1400, 900)
    log_in(page, rig.hub)
    page.goto(f"{rig.hub.url}/sessions?project_id={rig.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator("#assignment-paused")).to_be_hidden()
    began = time.monotonic()
    confirm_stop(page)

    # Both end within the grace and a few seconds: the deaf one by the kill. The page shows it
    # live, without a reload.
    for sid in (polite, stubborn):
        expect(page.locator(f"#session-{sid}")).to_contain_text("exited")
    took = time.monotonic() - began
    assert took < GRACE + 5, f"stopping took {took:.1f}s"
    result = page.locator("#stop-all-result")
    expect(result).to_contain_text("1 stopped after Ctrl-C, 1 killed after the grace")
    for sid in (polite, stubborn):
        assert rig.session(sid)["status"] == "exited"
    panes = tmux(rig.servers["alpha"].socket, "list-sessions")
    assert "sleep" not in panes.stdout and polite not in panes.stdout, panes.stdout

    banner = page.locator("#assignment-paused")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Auto-assignment paused")
    expect(banner).to_contain_text(f"by {ADMIN}")
    expect(banner).to_contain_text("drill")

    # Paused: a free session and a pending task stay apart; the Tasks page says why.
    start(rig, "fresh", "sleep 1000")
    made = rig.api.post("/api/v1/tasks", json={"project_id": rig.project_id, "title": "later"})
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    time.sleep(1.5)
    assert rig.task(task_id)["status"] == "pending"
    tasks_page = watched_page(browser, violations, 390, 844)
    log_in(tasks_page, rig.hub)
    tasks_page.goto(f"{rig.hub.url}/tasks?project_id={rig.project_id}")
    expect(tasks_page.locator("#assignment-paused")).to_contain_text("Auto-assignment paused")

    page.locator("#stop-all-dialog [data-close-dialog]").click()
    page.click("#resume-assignment")
    expect(banner).to_be_hidden()
    expect(tasks_page.locator("#assignment-paused")).to_be_hidden()  # told live
    rig.wait_status(task_id, "assigned")
    assert violations == []
