"""The task pages of the dashboard (SPEC §9): board, task detail, pipeline graph and activity
feed render from the real hub's data, need a login, and never show another tenant's tasks."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.integration.hub_setup import PASSWORD, bearer_client, create_admin
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import Fleet, fleet

SPEC = {
    "requirements": [{"description": "expose GET /users", "priority": "must", "category": "api"}],
    "constraints": {"languages": ["python"], "testing": "pytest"},
    "expected_outputs": [{"key": "api_schema", "type": "api_schema"}],
}
CONTRACT = {"type": "db_schema", "description": "users table", "tables": {"users": ["id"]}}


class Board(HTMLParser):
    """Cards of the board by the column they sit in, with their data- attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: dict[str, dict[str, str | None]] = {}
        self.cards: dict[str, dict[str, str | None]] = {}
        self._column: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "column" in (a.get("class") or ""):
            self._column = a["data-status"]
            assert self._column is not None
            self.columns[self._column] = a
        elif tag == "article" and a.get("data-task-id") and self._column is not None:
            self.cards[str(a["data-task-id"])] = a | {"column": self._column}
        elif tag == "template":
            self._column = None  # the skeleton card is no card of the board


def board_of(html: str) -> Board:
    parsed = Board()
    parsed.feed(html)
    return parsed


def column_of(html: str, task_id: str) -> str | None:
    card = board_of(html).cards.get(task_id)
    return card["column"] if card else None


def text(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, for phrase checks."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def page(client: httpx.AsyncClient, url: str, status: int = 200) -> str:
    res = await client.get(url)
    assert res.status_code == status, (url, res.status_code, res.text[:500])
    assert res.headers["content-type"].startswith("text/html")
    return res.text


async def drive(f: Fleet, session: str, task_id: str, result: dict[str, Any]) -> None:
    """Take an assigned task through start and completion as its session's agent."""
    agent = f.sessions[session].client
    started = await agent.post(f"/tasks/{task_id}/start")
    assert started.status_code == 200, started.text
    done = await agent.post(f"/tasks/{task_id}/complete", json={"result": result})
    assert done.status_code == 200, done.text


async def test_pages_need_a_login(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anonymous:
        for url in ("/tasks", "/tasks/abc", "/pipelines/abc", "/activity?project=x"):
            res = await anonymous.get(url)
            assert (res.status_code, res.headers.get("location")) == (303, "/login"), url
        res = await anonymous.get("/ui/tasks/abc/panel")
        assert res.status_code == 401


async def test_board_puts_cards_in_their_state_columns(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        login = await f.task("Add login", priority="high")
        logout = await f.task("Fix logout", dependency_ids=[login["id"]])
        await f.assign(login["id"], "worker-1")
        shipped = await f.task("Ship docs", type="docs")
        await f.assign(shipped["id"], "worker-1")
        await drive(f, "worker-1", shipped["id"], {"summary": "docs out"})
        settings = await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings", json={"require_task_approval": True}
        )
        assert settings.status_code == 200, settings.text
        proposed = await worker.client.post("/tasks", json={"title": "Agent idea"})
        assert proposed.status_code == 201, proposed.text
        idea = proposed.json()

        html = await page(admin, f"/tasks?project={project_id}")
        board = board_of(html)
        assert list(board.columns) == [
            "pending", "assigned", "planning", "plan_review", "running", "needs_human",
            "done", "failed", "cancelled",
        ]  # fmt: skip
        assert {tid: c["column"] for tid, c in board.cards.items()} == {
            login["id"]: "assigned",
            logout["id"]: "pending",
            shipped["id"]: "done",
            idea["id"]: "pending",
        }
        assert board.cards[logout["id"]]["data-blocked"] == "true"
        assert board.cards[idea["id"]]["data-pending-approval"] == "true"
        assert board.cards[login["id"]]["data-priority"] == "high"
        body = text(html)
        assert "blocked by Add login" in body
        assert "awaiting approval" in body
        assert "→ worker-1 @ build-1" in body
        assert login["id"][:8] in body
        assert 'id="new-task"' in html and 'href="/activity' in html

        # Filters: state (other columns hidden), text, priority and session.
        pending = board_of(await page(admin, f"/tasks?project_id={project_id}&status=pending"))
        assert set(pending.cards) == {logout["id"], idea["id"]}
        assert "hidden" in pending.columns["done"] and "hidden" not in pending.columns["pending"]
        found = board_of(await page(admin, f"/tasks?project_id={project_id}&q=login"))
        assert set(found.cards) == {login["id"]}
        high = board_of(await page(admin, f"/tasks?project_id={project_id}&priority=high"))
        assert set(high.cards) == {login["id"]}
        mine = board_of(await page(admin, f"/tasks?project_id={project_id}&session={worker.id}"))
        assert set(mine.cards) == {login["id"], shipped["id"]}


async def test_task_page_shows_spec_contracts_result_and_timeline(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        await f.session("worker-1")
        created = await admin.post(
            "/api/v1/pipelines",
            json={
                "project_id": project_id,
                "name": "users feature",
                "tasks": [
                    {"id": "db", "title": "Users table", "assign": "worker-1"},
                    {
                        "id": "api",
                        "title": "Users API",
                        "spec": "Serve the users over HTTP.",
                        "structured_spec": SPEC,
                        "acceptance_criteria": ["GET /users answers 200"],
                        "depends_on": [{"task": "db", "type": "input", "contract_key": "db"}],
                    },
                ],
            },
        )
        assert created.status_code == 201, created.text
        pipeline = created.json()
        db_id, api_id = pipeline["id_map"]["db"], pipeline["id_map"]["api"]
        frame = await f.daemon.expect("task_assigned", task_id=db_id)
        await f.ack(frame)

        waiting = text(await page(admin, f"/tasks/{api_id}"))
        assert "Blocked by" in waiting and "waiting" in waiting

        await drive(
            f,
            "worker-1",
            db_id,
            {
                "summary": "created the users table",
                "changes": {"files_created": ["migrations/001_users.sql"]},
                "contracts": {"db": CONTRACT},
                "tests": {"passed": 3, "failed": 0, "skipped": 1},
            },
        )
        upstream_html = await page(admin, f"/tasks/{db_id}")
        upstream = text(upstream_html)
        assert "created the users table" in upstream
        assert "3 passed" in upstream and "migrations/001_users.sql" in upstream
        assert 'data-kind="delivery_delivered"' in upstream_html
        assert re.search(r'data-kind="status".*running.*done', upstream_html, re.S)
        assert f'href="/pipelines/{pipeline["pipeline_id"]}"' in upstream_html

        api_html = await page(admin, f"/tasks/{api_id}")
        api = text(api_html)
        assert 'data-contract-status="received"' in api_html
        assert "expose GET /users" in api and "pytest" in api and "api_schema" in api
        assert "GET /users answers 200" in api and "Serve the users over HTTP." in api
        assert "&#34;tables&#34;" in api_html or '"tables"' in api_html  # the resolved input
        assert 'data-kind="input_resolved"' in api_html

        # The panel the page re-fetches on live updates is the same markup, alone.
        panel = await admin.get(f"/ui/tasks/{api_id}/panel")
        assert panel.status_code == 200 and 'id="task-status"' in panel.text
        assert "<html" not in panel.text

        graph = await page(admin, f"/pipelines/{pipeline['pipeline_id']}")
        assert graph.count('class="pnode"') == 2
        assert "users feature" in graph
        assert "input: db" in graph
        edge = re.search(r'<g class="pedge"[^>]*>', graph)
        assert edge is not None
        assert f'data-source="{db_id}"' in edge[0] and f'data-target="{api_id}"' in edge[0]
        assert 'data-contract-status="received"' in edge[0]
        # The upstream sits in an earlier column (smaller x) than its dependent.
        xs = {
            m[1]: float(m[2])
            for m in re.finditer(
                r'data-task-id="([^"]+)"[^>]*>\s*<title>.*?</title>\s*<rect class="pnode-box" '
                r'x="([\d.]+)"',
                graph,
                re.S,
            )
        }
        assert xs[db_id] < xs[api_id]

        feed = await page(admin, f"/activity?project={project_id}")
        kinds = re.findall(r'data-kind="([a-z_]+)"', feed)
        assert kinds[-1] == "created" and "input_resolved" in kinds
        times = re.findall(r'<time datetime="([^"]+)"', feed)
        assert times == sorted(times, reverse=True)  # newest first
        assert "Users API" in feed


async def test_the_page_says_why_a_task_went_where_it_did(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        await f.session("worker-1")
        task = await f.task("Tune queries", labels=["python"])
        placed = await admin.post(f"/api/v1/tasks/{task['id']}/auto-assign")
        assert placed.status_code == 200, placed.text
        reason = placed.json()["assignment_reason"]
        assert reason["mode"] == "auto" and reason["winner"]["session_name"] == "worker-1"

        html = await page(admin, f"/tasks/{task['id']}")
        assert 'id="assignment-reason"' in html and 'data-mode="auto"' in html
        body = text(html)
        assert reason["summary"] in body
        table = re.search(r'<table class="data" id="candidates">.*?</table>', html, re.S)
        assert table is not None
        assert "worker-1" in table[0] and str(reason["winner"]["score"]) in table[0]
        assert reason["winner"]["reasons"][0] in text(table[0])


async def test_plan_review_and_approval_offer_their_decisions(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await f.task("Risky migration", require_plan=True)
        await f.assign(task["id"], "worker-1")
        planned = await worker.client.post(
            f"/tasks/{task['id']}/plan", json={"plan": "1. back up\n2. migrate"}
        )
        assert planned.status_code == 200, planned.text
        html = await page(admin, f"/tasks/{task['id']}")
        assert 'id="approve-plan"' in html and 'id="revise-plan"' in html
        assert "1. back up" in html

        await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings", json={"require_task_approval": True}
        )
        proposed = await worker.client.post("/tasks", json={"title": "Agent idea"})
        html = await page(admin, f"/tasks/{proposed.json()['id']}")
        assert 'id="approve-task"' in html and 'id="reject-task"' in html


async def test_other_tenants_tasks_are_not_found(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    created = await admin.post(
        "/api/v1/pipelines",
        json={"project_id": project_id, "tasks": [{"title": "Alpha secret"}]},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["tasks"][0]["id"]
    pipeline_id = created.json()["pipeline_id"]
    await create_admin(hub, "bob@b.example", "tenant-b")
    bob = await bearer_client(hub, "bob@b.example")
    try:
        for url in ("/tasks", "/activity"):
            assert "No project yet" in await page(bob, url)
        await bob.post("/api/v1/projects", json={"name": "beta"})
        missing = await page(bob, f"/tasks/{task_id}", 404)
        assert 'id="error-page"' in missing and "Alpha secret" not in missing
        assert "Alpha secret" not in await page(bob, f"/pipelines/{pipeline_id}", 404)
        assert (await bob.get(f"/ui/tasks/{task_id}/panel")).status_code == 404
        # Naming another tenant's project falls back to the caller's own.
        for url in (f"/tasks?project_id={project_id}", f"/activity?project={project_id}"):
            assert "Alpha secret" not in await page(bob, url)
    finally:
        await bob.aclose()
    assert "Alpha secret" in await page(admin, f"/tasks/{task_id}")


async def test_a_viewer_reads_the_board_without_controls(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    task = await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "Look"})
    me = (await admin.get("/api/v1/auth/me")).json()
    async with hub.state.sessionmaker() as db:
        from orchestratia.hub.services import audit
        from orchestratia.hub.services.access import accounts

        await accounts.create_user(
            db, me["tenant_id"], "vera@a.example", PASSWORD, audit.Actor("system")
        )
    added = await admin.post(
        f"/api/v1/projects/{project_id}/members", json={"email": "vera@a.example", "role": "viewer"}
    )
    assert added.status_code == 201, added.text
    viewer = await bearer_client(hub, "vera@a.example")
    try:
        html = await page(viewer, f"/tasks?project_id={project_id}")
        assert column_of(html, task.json()["id"]) == "pending"
        assert 'id="new-task"' not in html and "data-action=" not in html
        detail = await page(viewer, f"/tasks/{task.json()['id']}")
        assert 'id="note-form"' not in detail and 'id="cancel-task"' not in detail
    finally:
        await viewer.aclose()
