"""The task dashboard in a real browser on the real hub and daemon (SPEC §9): create a task from
the board's dialog, assign it to a live session from the assign dialog, watch its card move
between columns live as the stand-in agent in that session works it (told by the real delivery,
through the real agent CLI), then read its timeline; plus the pipeline graph, the activity feed
and the board on a phone-sized screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in, open_page
from tests.e2e.processes import HubProcess
from tests.e2e.task_support import StandIn, TaskRig, task_rig
from tests.e2e.terminal_support import terminal_fleet
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass
class Fleet:
    hub: HubProcess
    api: httpx.Client
    project_id: str
    server_id: str
    server_name: str
    session_id: str
    session_name: str


@pytest.fixture
def fleet(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[Fleet]:
    """A project with one online server running one live session (``cat``, which shows what a
    delivery types and otherwise waits)."""
    with terminal_fleet(hub_process, daemon_factory, tmp_path, "tasks") as base:
        api = base.api
        server = api.get(f"/api/v1/servers/{base.server_id}").json()
        started = api.post(
            "/api/v1/sessions",
            json={
                "server_id": base.server_id,
                "name": "e2e-worker",
                "working_directory": str(tmp_path),
                "command": "cat",
            },
        )
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]

        def running() -> bool:
            return bool(api.get(f"/api/v1/sessions/{session_id}").json()["status"] == "running")

        wait_sync(running, 20, f"session running (daemon log: {base.daemon.log})")
        yield Fleet(
            hub_process, api, base.project_id, base.server_id, server["name"],
            session_id, "e2e-worker",
        )  # fmt: skip


def card(page: Page, task_id: str, column: str) -> Locator:
    return page.locator(f'.column[data-status="{column}"] .task-card[data-task-id="{task_id}"]')


WORKER = "e2e-worker"
TITLE = "Add a /health endpoint"
RESULT = {
    "summary": "Added /health with the version.",
    "changes": {"files_modified": ["app/routes.py"]},
    "tests": {"passed": 4, "failed": 0, "skipped": 0},
}
# Records each column the card is seen in, from the moment it is installed: the board moves a
# card's element between columns, so a move that comes and goes between two of Playwright's polls
# is still seen.
TRACK_COLUMNS = """(id) => {
  const seen = (window.__columns = []);
  const note = () => {
    const column = document.getElementById(`task-${id}`)?.closest(".column")?.dataset.status;
    if (column && seen[seen.length - 1] !== column) seen.push(column);
  };
  note();
  new MutationObserver(note).observe(document.getElementById("board"), {
    childList: true,
    subtree: true,
  });
}"""


@dataclass
class Worked:
    """A project with one online server (a real daemon) running one stand-in agent session,
    which completes its task only once ``gate`` exists."""

    rig: TaskRig
    server_name: str
    agent: StandIn
    gate: Path


@pytest.fixture
def worked(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[Worked]:
    with task_rig(hub_process, daemon_factory, tmp_path, "tasks", {"alpha": True}) as rig:
        server = rig.servers["alpha"]
        gate = tmp_path / "may-finish"
        agent = rig.start_agent(
            WORKER, server, {"tasks": {TITLE: {"result": RESULT, "wait_for": str(gate)}}}
        )
        name = rig.api.get(f"/api/v1/servers/{server.id}").json()["name"]
        yield Worked(rig, name, agent, gate)


def test_a_task_moves_across_the_board_live(
    browser: Browser, worked: Worked, tmp_path: Path
) -> None:
    rig, agent = worked.rig, worked.agent
    page = open_page(browser)
    log_in(page, rig.hub)
    page.click("nav >> text=Tasks")
    page.wait_for_url(re.compile(r"/tasks$"))
    page.goto(f"{rig.hub.url}/tasks?project={rig.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    page.evaluate("window.__noReload = 1")

    # Create through the dialog; a bad submission is explained next to the field it is about.
    page.click("#new-task")
    expect(page.locator("#task-dialog")).to_be_visible()
    page.click("#task-submit")
    title_error = page.locator('#task-form [data-error-for="title"]')
    expect(title_error).to_be_visible()
    expect(title_error).to_have_text("Title must not be empty.")
    page.fill("#task-title", "Add a health endpoint")
    page.fill("#task-spec", "GET /health answers 200 with the version.")
    page.select_option("#task-priority", "high")
    page.fill("#task-criteria", "returns 200\nincludes the version")
    page.fill("#task-labels", "backend, http")
    page.click("#task-form details.advanced summary")
    page.fill("#task-structured", '{"requirements": [{"description": "x", "priority": "maybe"}]}')
    page.click("#task-submit")
    spec_error = page.locator('#task-form [data-error-for="structured_spec"]')
    expect(spec_error).to_contain_text("Priority in structured_spec.requirements.0 must be one of")
    page.fill("#task-structured", "")
    page.click("#task-submit")
    expect(page.locator("#task-dialog")).to_be_hidden()
    created = page.locator('.column[data-status="pending"] .task-card')
    expect(created).to_have_count(1)
    task_id = str(created.get_attribute("data-task-id"))
    stored = rig.task(task_id)
    assert stored["priority"] == "high" and stored["labels"] == ["backend", "http"]
    assert stored["acceptance_criteria"] == ["returns 200", "includes the version"]

    # Edit through the dialog: it opens filled in, and the card shows the saved title (the one
    # the stand-in's script knows the task by).
    card(page, task_id, "pending").locator('[data-action="edit"]').click()
    expect(page.locator("#task-title")).to_have_value("Add a health endpoint")
    expect(page.locator("#task-labels")).to_have_value("backend, http")
    page.fill("#task-title", TITLE)
    page.click("#task-submit")
    expect(page.locator("#task-dialog")).to_be_hidden()
    expect(card(page, task_id, "pending").locator('[data-field="title"]')).to_have_text(TITLE)

    # Assign through the dialog, to the stand-in's session. From here on nothing but the
    # stand-in drives the task: the delivery tells it to run `orchestratia task check`, and it
    # starts the task with the real CLI, then holds its result until the gate opens.
    page.evaluate(TRACK_COLUMNS, task_id)
    card(page, task_id, "pending").locator('[data-action="assign"]').click()
    expect(page.locator("#assign-dialog")).to_be_visible()
    expect(page.locator(f'#assign-session option[value="{agent.id}"]')).to_have_count(1)
    page.select_option("#assign-session", agent.id)
    page.click("#assign-submit")
    expect(page.locator("#assign-dialog")).to_be_hidden()
    running = card(page, task_id, "running")
    expect(running).to_be_visible()
    expect(running.locator('[data-field="session"]')).to_have_text(WORKER)
    expect(running.locator('[data-field="server"]')).to_have_text(f" @ {worked.server_name}")
    expect(page.locator('.column[data-status="assigned"] [data-field="count"]')).to_have_text("0")
    assert page.evaluate("window.__columns") == ["pending", "assigned", "running"]
    assert rig.task(task_id)["status"] == "running"  # the gate holds it here

    worked.gate.touch()
    expect(card(page, task_id, "done")).to_be_visible()
    expect(page.locator(f'.task-card[data-task-id="{task_id}"]')).to_have_count(1)
    assert page.evaluate("window.__columns") == ["pending", "assigned", "running", "done"]
    assert page.evaluate("window.__noReload === 1")
    page.screenshot(path=tmp_path / "board.png", full_page=True)

    # The stand-in did it: told by a delivery typed into its terminal, it ran check, view, start
    # and complete with the real CLI, each once and each accepted.
    wait_sync(
        lambda: any(e["event"] == "finished" and e["task"] == task_id for e in agent.entries()),
        10,
        f"the stand-in's transcript of its task ({agent.transcript})",
    )
    told = [e for e in agent.entries() if e["event"] == "line" and "task check" in e["text"]]
    assert len(told) == 1 and "[orchestratia] " in told[0]["text"], agent.entries()
    commands = [(e["command"], e["rc"]) for e in agent.commands()]
    assert commands == [("check", 0), ("view", 0), ("start", 0), ("complete", 0)], commands

    # The task page: result and the timeline of what happened.
    card(page, task_id, "done").locator('[data-field="title"]').click()
    page.wait_for_url(f"{rig.hub.url}/tasks/{task_id}")
    expect(page.locator("#task-status")).to_have_text("done")
    expect(page.locator("#result-summary")).to_have_text("Added /health with the version.")
    expect(page.locator("#result-tests")).to_contain_text("4 passed")
    timeline = page.locator("#timeline")
    expect(timeline.locator('.event[data-kind="created"]')).to_have_count(1)
    moves = timeline.locator('.event[data-kind="status"]')
    expect(moves.locator(".event-summary")).to_have_text(
        ["pending → assigned", "assigned → running", "running → done"]
    )
    # The moves after the assignment were the session's own, made with its session token.
    expect(moves.locator(".event-actor").nth(1)).to_have_text(f"session:{WORKER}")
    expect(moves.locator(".event-actor").nth(2)).to_have_text(f"session:{WORKER}")
    delivered = timeline.locator('.event[data-kind="delivery_delivered"]')
    expect(delivered).to_have_count(1)
    expect(delivered).to_have_attribute("data-category", "delivery")
    expect(delivered.locator(".event-summary")).to_have_text("assignment delivered to the session")
    expect(page.locator("#reason-summary")).to_contain_text(f"assigned to {WORKER}")

    # A note lands on the timeline live (task_event), without a reload.
    expect(page.locator("#live-indicator")).to_have_text("live")
    page.evaluate("window.__noReload = 2")
    page.fill("#note-content", "Nice work, thanks")
    page.click("#note-submit")
    expect(timeline.locator('.event[data-kind="note"]')).to_contain_text("Nice work, thanks")
    expect(page.locator("#notes .note[data-note-id] .prose")).to_have_text("Nice work, thanks")
    assert page.evaluate("window.__noReload === 2")
    page.screenshot(path=tmp_path / "task.png", full_page=True)


def test_pipeline_graph_and_activity_follow_changes(
    browser: Browser, fleet: Fleet, tmp_path: Path
) -> None:
    created = fleet.api.post(
        "/api/v1/pipelines",
        json={
            "project_id": fleet.project_id,
            "name": "checkout",
            "tasks": [
                {"id": "db", "title": "Orders table"},
                {
                    "id": "api",
                    "title": "Orders API",
                    "depends_on": [{"task": "db", "type": "input", "contract_key": "orders_db"}],
                },
                {"id": "ui", "title": "Checkout page", "depends_on": ["api"]},
            ],
        },
    )
    assert created.status_code == 201, created.text
    ids = created.json()["id_map"]

    page = open_page(browser)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/tasks/{ids['api']}")
    expect(page.locator("#blockers")).to_contain_text("Orders table")
    expect(page.locator('#dependencies [data-contract-status="waiting"]')).to_have_count(1)
    page.click("#pipeline-link")
    page.wait_for_url(re.compile(r"/pipelines/"))
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator(".pnode")).to_have_count(3)
    expect(page.locator(".pedge text")).to_have_text(["input: orders_db", "blocks"])
    # Each dependent sits right of what it depends on.
    xs = {
        tid: float(page.locator(f'.pnode[data-task-id="{tid}"] .pnode-box').get_attribute("x") or 0)
        for tid in ids.values()
    }
    assert xs[ids["db"]] < xs[ids["api"]] < xs[ids["ui"]]

    res = fleet.api.delete(f"/api/v1/tasks/{ids['db']}")
    assert res.status_code == 200, res.text
    expect(page.locator(f'.pnode[data-task-id="{ids["db"]}"]')).to_have_attribute(
        "data-status", "cancelled"
    )
    edge = page.locator(f'.pedge[data-source="{ids["db"]}"]')
    expect(edge).to_have_attribute("data-contract-status", "upstream_failed")
    page.screenshot(path=tmp_path / "pipeline.png", full_page=True)

    page.goto(f"{fleet.hub.url}/activity?project={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    first = page.locator("#activity .event").first
    res = fleet.api.post(
        "/api/v1/tasks", json={"project_id": fleet.project_id, "title": "Brand new task"}
    )
    assert res.status_code == 201, res.text
    expect(first).to_have_attribute("data-kind", "created")
    expect(first.locator(".event-task")).to_have_text("Brand new task")


def test_board_fits_a_phone(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    for title in ("Short one", "A much longer task title that has to wrap on a small screen"):
        res = fleet.api.post("/api/v1/tasks", json={"project_id": fleet.project_id, "title": title})
        assert res.status_code == 201, res.text
    page = open_page(browser, 390, 844)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/tasks?project_id={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator(".task-card")).to_have_count(2)
    # Columns stack instead of scrolling sideways, and nothing pushes the page wider.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    pending = page.locator('.column[data-status="pending"]').bounding_box()
    assigned = page.locator('.column[data-status="assigned"]').bounding_box()
    assert pending is not None and assigned is not None
    assert assigned["y"] > pending["y"] and pending["width"] > 300
    page.screenshot(path=tmp_path / "phone-board.png", full_page=True)
    page.click("#new-task")
    dialog = page.locator("#task-dialog").bounding_box()
    assert dialog is not None and dialog["width"] <= 390
    page.screenshot(path=tmp_path / "phone-dialog.png")
    page.click("#task-dialog [data-close-dialog] >> nth=0")

    # Cancelling asks first, then the card drops into the cancelled column.
    short = page.locator('.task-card:has-text("Short one")')
    task_id = str(short.get_attribute("data-task-id"))
    page.once("dialog", lambda confirm: confirm.accept())
    short.locator('[data-action="cancel"]').click()
    expect(card(page, task_id, "cancelled")).to_have_count(1)


def test_killed_session_marks_its_card_live(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    """The real daemon kills the session: the open board moves the card back to pending with a
    "session lost" badge, and the task page shows the flag."""
    res = fleet.api.post("/api/v1/tasks", json={"project_id": fleet.project_id, "title": TITLE})
    assert res.status_code == 201, res.text
    task_id = res.json()["id"]
    assigned = fleet.api.post(
        f"/api/v1/tasks/{task_id}/assign", json={"session_name": fleet.session_name}
    )
    assert assigned.status_code == 200, assigned.text
    page = open_page(browser)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/tasks?project_id={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    badge = card(page, task_id, "assigned").locator('[data-field="session-lost"]')
    expect(badge).to_be_hidden()

    killed = fleet.api.post(f"/api/v1/sessions/{fleet.session_id}/kill")
    assert killed.status_code == 202, killed.text
    lost = card(page, task_id, "pending")
    expect(lost.locator('[data-field="session-lost"]')).to_be_visible()
    expect(lost.locator('[data-field="session-lost"]')).to_have_text(
        f"session lost: {fleet.session_name}"
    )
    expect(lost).to_have_attribute("data-session-lost", "true")
    page.screenshot(path=tmp_path / "lost-card.png")

    page.goto(f"{fleet.hub.url}/tasks/{task_id}")
    expect(page.locator("#lost-flag")).to_have_text("session lost")
    expect(page.locator("#lost-session")).to_contain_text(fleet.session_name)
    expect(page.locator("#reason-summary")).to_have_text(f"session {fleet.session_name} exited")
    page.screenshot(path=tmp_path / "lost-task-page.png")

    # The inbox notice: acknowledged once, then the task's flag stays but the notice is gone.
    page.goto(f"{fleet.hub.url}/inbox")
    notice = page.locator('.inbox-item[data-kind="session_lost"]')
    expect(notice).to_contain_text(TITLE)
    notice.locator('[data-action="acknowledge"]').click()
    expect(notice).to_have_attribute("data-state", "applied")
    page.screenshot(path=tmp_path / "lost-inbox.png")
    listed = fleet.api.get("/api/v1/inbox", params={"kind": "session_lost"}).json()["items"]
    assert listed == []
