"""The human-in-the-loop pages of the dashboard (SPEC §8, §9): the inbox lists every kind of
waiting item with who asks and filters, the Permission dashboard shows the rules in matching
order and the decision log with its counts; both need a login and never show another tenant's
items, rules or decisions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.integration.approval_support import create_rule
from tests.integration.hub_setup import tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import AgentSession, fleet


class Rows(HTMLParser):
    """Inbox items, rule rows and log rows of a page, by id, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, str | None]] = {}
        self.rules: list[dict[str, str | None]] = []
        self.log: list[dict[str, str | None]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "template":
            self._skip += 1  # the live row's skeleton is no row of the log
        elif self._skip:
            return
        elif tag == "article" and "inbox-item" in (a.get("class") or ""):
            self.items[str(a["data-key"])] = a
        elif tag == "tr" and "rule-row" in (a.get("class") or ""):
            self.rules.append(a)
        elif tag == "tr" and "log-row" in (a.get("class") or ""):
            self.log.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._skip -= 1


def rows_of(html: str) -> Rows:
    parsed = Rows()
    parsed.feed(html)
    return parsed


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def script_json(html: str, element_id: str) -> Any:
    found = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert found, element_id
    return json.loads(found.group(1))


async def page(client: httpx.AsyncClient, url: str, status: int = 200) -> str:
    res = await client.get(url)
    assert res.status_code == status, (url, res.status_code, res.text[:500])
    assert res.headers["content-type"].startswith("text/html")
    return res.text


def entry(agent: AgentSession, entry_id: str, decision: str, command: str, **extra: Any) -> Any:
    return {
        "id": entry_id,
        "session_id": agent.id,
        "agent": "claude",
        "tool": "Bash",
        "tool_input": {"command": command},
        "decision": decision,
        "decided_by": "default",
        "reason": f"{decision} for the test",
        "created_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def test_pages_need_a_login(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anonymous:
        for url in (
            "/inbox",
            "/inbox?kind=tool_approval",
            "/permissions",
            "/permissions?project=x",
        ):
            res = await anonymous.get(url)
            assert (res.status_code, res.headers.get("location")) == (303, "/login"), url
        for url in ("/ui/inbox/items", "/ui/permissions/rules?project_id=x"):
            assert (await anonymous.get(url)).status_code == 401, url


async def test_inbox_lists_every_kind_with_who_asks_and_filters(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    settings = await admin.patch(
        f"/api/v1/projects/{project_id}/task-settings", json={"require_task_approval": True}
    )
    assert settings.status_code == 200, settings.text
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker")
        planner = await f.session("planner")
        task = await f.started_task(worker, "Wire the port")
        helped = await worker.client.post(
            f"/tasks/{task['id']}/help", json={"question": "Which port?", "context": "8080 busy"}
        )
        assert helped.status_code in (200, 201), helped.text
        intervention = helped.json()["intervention_id"]
        planned = await f.task("Refactor auth")
        await f.assign(planned["id"], "planner", require_plan=True)
        posted = await planner.client.post(
            f"/tasks/{planned['id']}/plan", json={"plan": {"summary": "three small steps"}}
        )
        assert posted.status_code == 200, posted.text
        proposed = await worker.client.post("/tasks", json={"title": "Drop the DB", "spec": "all"})
        assert proposed.status_code == 201, proposed.text
        tool_call = await planner.ask("git push --force")

        html = await page(admin, "/inbox")
        items = rows_of(html).items
        assert set(items) == {
            f"intervention:{intervention}",
            f"plan_review:{planned['id']}",
            f"task_approval:{proposed.json()['id']}",
            f"tool_approval:{tool_call}",
        }
        assert all(i["data-project-id"] == project_id for i in items.values())
        body = text(html)
        assert "Which port?" in body and "8080 busy" in body
        assert "three small steps" in body and "Drop the DB" in body
        assert "git push --force" in body and '"command": "git push --force"' in body
        assert "worker @ build-1" in body and "planner @ build-1" in body
        assert f'href="/tasks/{task["id"]}"' in html
        assert 'data-action="respond"' in html and 'name="allow_minutes"' in html
        assert 'id="nav-inbox"' in html and 'href="/permissions"' in html
        # Only tool calls and agent-created tasks can be picked for a bulk decision.
        assert html.count('data-field="select"') == 2
        assert re.search(r'id="inbox-count">4<', html)

        only_tools = rows_of(await page(admin, "/inbox?kind=tool_approval")).items
        assert list(only_tools) == [f"tool_approval:{tool_call}"]
        by_session = rows_of(await page(admin, f"/inbox?session={planner.id}")).items
        assert set(by_session) == {f"plan_review:{planned['id']}", f"tool_approval:{tool_call}"}
        by_server = rows_of(await page(admin, f"/inbox?server={f.daemon.server_id}")).items
        assert len(by_server) == 4
        assert not rows_of(await page(admin, "/inbox?server=elsewhere")).items
        by_project = rows_of(await page(admin, f"/inbox?project={project_id}")).items
        assert len(by_project) == 4
        # The list alone, as static/inbox.js re-fetches it, honours the same filters.
        partial = await page(admin, f"/ui/inbox/items?project={project_id}&kind=intervention")
        assert list(rows_of(partial).items) == [f"intervention:{intervention}"]
        assert "<html" not in partial

        other = await tenant_b(hub)
        try:
            assert not rows_of(await page(other, "/inbox")).items
            await page(other, f"/inbox?project={project_id}", 404)
            missing = await other.get(f"/ui/inbox/items?project={project_id}")
            assert missing.status_code == 404
        finally:
            await other.aclose()


async def test_permissions_page_shows_rules_log_and_counts(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker")
        tenant_rule = await create_rule(admin, "read anything", tool_pattern="Read")
        project_rule = await create_rule(
            admin,
            "no force push",
            "deny",
            scope="project",
            scope_id=project_id,
            param_pattern="git push --force*",
        )
        server_rule = await create_rule(
            admin,
            "status is fine",
            scope="server",
            scope_id=f.daemon.server_id,
            param_pattern="git status*",
            priority=5,
        )
        batch = [
            entry(worker, "e-1", "allowed", "git status", decided_by="rule",
                  matched_rule_id=server_rule["id"]),
            entry(worker, "e-2", "denied", "git push --force", decided_by="rule",
                  matched_rule_id=project_rule["id"]),
            entry(worker, "e-3", "asked", "make deploy"),
        ]  # fmt: skip
        async with f.server_client() as daemon_api:
            shipped = await daemon_api.post("/permissions/log", json={"entries": batch})
        assert shipped.status_code == 201, shipped.text

        html = await page(admin, f"/permissions?project={project_id}")
        rows = rows_of(html)
        # Matching order: deny first, then the narrowest scope.
        assert [r["data-rule-id"] for r in rows.rules] == [
            project_rule["id"],
            server_rule["id"],
            tenant_rule["id"],
        ]
        edited = json.loads(str(rows.rules[0]["data-rule"]))
        assert edited["param_pattern"] == "git push --force*" and edited["action"] == "deny"
        assert [r["data-entry-id"] for r in rows.log] == ["e-3", "e-2", "e-1"]
        assert [r["data-decision"] for r in rows.log] == ["asked", "denied", "allowed"]
        body = text(html)
        assert "rule status is fine" in body and "rule no force push" in body
        assert "worker @ build-1" in body and "make deploy" in body
        for decision in ("allowed", "denied", "asked"):
            assert re.search(rf'id="count-{decision}">1<', html), decision
        meta = script_json(html, "log-meta")
        assert meta["project_id"] == project_id and meta["counts"] == {
            "allowed": 1,
            "denied": 1,
            "asked": 1,
        }
        assert sum(b["allowed"] + b["denied"] + b["asked"] for b in meta["buckets"]) == 3
        assert meta["main_parameter"]["Bash"] == ["command"]
        assert 'id="rule-dialog"' in html and 'data-error-for="param_pattern"' in html
        assert 'id="tester-form"' in html

        denied = await page(admin, f"/permissions?project={project_id}&decision=denied")
        assert [r["data-entry-id"] for r in rows_of(denied).log] == ["e-2"]
        assert re.search(r'id="count-allowed">0<', denied)
        by_session = await page(admin, f"/permissions?project={project_id}&session={worker.id}")
        assert len(rows_of(by_session).log) == 3
        await page(admin, f"/permissions?project={project_id}&server=nope", 404)
        table = await page(admin, f"/ui/permissions/rules?project_id={project_id}")
        assert len(rows_of(table).rules) == 3 and "<html" not in table

        other = await tenant_b(hub)
        try:
            await page(other, f"/permissions?project={project_id}", 404)
            assert "No project yet" in await page(other, "/permissions")
            missing = await other.get(f"/ui/permissions/rules?project_id={project_id}")
            assert missing.status_code == 404
            made = await other.post("/api/v1/projects", json={"name": "beta"})
            own = await page(other, f"/permissions?project={made.json()['id']}")
            assert not rows_of(own).rules and not rows_of(own).log
            assert "read anything" not in own
        finally:
            await other.aclose()
