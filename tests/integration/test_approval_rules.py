"""Approval rules over the API (docs/approvals.md): CRUD and its validation, scopes and roles,
the "would this match?" tester, tenant isolation, and the rule set daemons are told about."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.approval_models import ApprovalRule
from orchestratia.hub.db.types import utcnow
from orchestratia.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.integration.approval_support import ask, create_rule, decide, rule_body, user_caller
from tests.integration.helpers import FakeDaemon, audit_rows
from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"approval_rules_sync_interval": 0.2}


def _locs(res: httpx.Response) -> list[list[Any]]:
    assert res.status_code == 422, res.text
    return [e["loc"] for e in res.json()["detail"]]


async def test_crud_validation_and_audit(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await create_rule(
        admin, "git ok", param_pattern="git status*", agent_filter="claude, codex", priority=5
    )
    assert made["scope"] == "tenant" and made["scope_id"] is None
    assert made["agent_filter"] == ["claude", "codex"]
    assert made["created_by"] == "alice@a.example" and made["expires_at"] is None
    deny = await create_rule(
        admin, "no rm", "deny", param_pattern=r"rm\s+-rf", pattern_syntax="regex"
    )
    proj = await create_rule(admin, "proj ask", "ask", scope="project", scope_id=project_id)

    bad = await admin.post(
        "/api/v1/approval-rules",
        json=rule_body("bad", pattern_syntax="regex", tool_pattern="(?=lookahead)"),
    )
    assert _locs(bad) == [["body", "tool_pattern"]]
    assert "RE2" in bad.json()["detail"][0]["msg"]
    bad = await admin.post(
        "/api/v1/approval-rules", json=rule_body("bad", param_pattern="x", colour="red")
    )
    assert _locs(bad) == [["body", "colour"]]
    bad = await admin.post("/api/v1/approval-rules", json=rule_body("bad", scope="project"))
    assert bad.status_code == 422 and "scope_id" in bad.text

    # PATCH re-validates the whole rule: "git status*" is no valid regex once syntax changes.
    res = await admin.patch(f"/api/v1/approval-rules/{made['id']}", json={"param_pattern": "("})
    assert res.status_code == 200  # "(" is a fine glob: a literal parenthesis
    res = await admin.patch(
        f"/api/v1/approval-rules/{made['id']}", json={"pattern_syntax": "regex"}
    )
    assert _locs(res) == [["body", "param_pattern"]]
    res = await admin.patch(
        f"/api/v1/approval-rules/{made['id']}",
        json={"param_pattern": "^git status", "pattern_syntax": "regex", "is_active": False},
    )
    assert res.status_code == 200, res.text
    assert res.json()["pattern_syntax"] == "regex" and res.json()["is_active"] is False
    res = await admin.patch(f"/api/v1/approval-rules/{made['id']}", json={"scope": "server"})
    assert res.status_code == 422 and "scope_id" in res.text

    listed = (await admin.get("/api/v1/approval-rules")).json()["rules"]
    # In the order the matcher tries them: deny first, then narrowest scope.
    assert [r["id"] for r in listed] == [deny["id"], proj["id"], made["id"]]

    assert (await admin.delete(f"/api/v1/approval-rules/{deny['id']}")).status_code == 204
    assert (await admin.delete(f"/api/v1/approval-rules/{deny['id']}")).status_code == 404
    assert (await admin.patch(f"/api/v1/approval-rules/{deny['id']}", json={})).status_code == 404

    created = await audit_rows(hub, "approval_rule.created")
    updated = await audit_rows(hub, "approval_rule.updated")
    deleted = await audit_rows(hub, "approval_rule.deleted")
    assert [e.target_id for e in created] == [made["id"], deny["id"], proj["id"]]
    assert [e.details["version"] for e in created + updated + deleted] == [1, 2, 3, 4, 5, 6]
    assert updated[-1].details["fields"] == ["is_active", "param_pattern", "pattern_syntax"]
    assert deleted[0].actor_id == "alice@a.example"


async def test_scope_targets_and_roles(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    res = await admin.post("/api/v1/projects", json={"name": "other"})
    other_project = res.json()["id"]
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    member = await add_user(hub, admin, "mia@a.example", project_id, "member")
    try:
        body = rule_body("p", scope="project", scope_id=project_id)
        res = await viewer.post("/api/v1/approval-rules", json=body)
        assert res.status_code == 403 and "viewer" in res.json()["detail"]
        res = await member.post("/api/v1/approval-rules", json=rule_body("t"))
        assert res.status_code == 403 and "tenant admins" in res.json()["detail"]
        mine = await create_rule(member, "s", "ask", scope="server", scope_id=server["id"])
        res = await member.post(
            "/api/v1/approval-rules", json=rule_body("o", scope="project", scope_id=other_project)
        )
        assert res.status_code == 404  # not the member's project: it does not exist for them
        hidden = await create_rule(admin, "o", scope="project", scope_id=other_project)
        tenant = await create_rule(admin, "t")

        seen = {r["id"] for r in (await viewer.get("/api/v1/approval-rules")).json()["rules"]}
        assert seen == {mine["id"], tenant["id"]}
        rule_url = f"/api/v1/approval-rules/{mine['id']}"
        assert (await viewer.patch(rule_url, json={"priority": 3})).status_code == 403
        assert (await viewer.delete(rule_url)).status_code == 403
        other_url = f"/api/v1/approval-rules/{hidden['id']}"
        assert (await member.patch(other_url, json={"priority": 3})).status_code == 404
        assert (await member.delete(other_url)).status_code == 404
        res = await member.patch(
            f"/api/v1/approval-rules/{tenant['id']}", json={"is_active": False}
        )
        assert res.status_code == 403
        # Moving a rule needs write access where it goes, too.
        res = await member.patch(rule_url, json={"scope": "project", "scope_id": other_project})
        assert res.status_code == 404
        res = await member.patch(rule_url, json={"scope": "project", "scope_id": project_id})
        assert res.status_code == 200 and res.json()["scope_id"] == project_id
    finally:
        await viewer.aclose()
        await member.aclose()

    for scope in ("project", "server"):
        res = await admin.post(
            "/api/v1/approval-rules", json=rule_body("x", scope=scope, scope_id="no-such-id")
        )
        assert res.status_code == 404, res.text
    res = await admin.post(
        "/api/v1/approval-rules", json=rule_body("x", scope="session", scope_id=server["id"])
    )
    assert res.status_code == 422 and "inbox" in res.json()["detail"]


async def test_outsiders_see_no_rules_and_only_owners_make_allow_rules(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    """A user without a project sees no rule (404 for real and random ids alike); a project
    member may add deny and ask rules but not allow rules, which are for project owners."""
    outsider = await add_user(hub, admin, "olga@a.example", project_id, None)
    member = await add_user(hub, admin, "mia@a.example", project_id, "member")
    owner = await add_user(hub, admin, "otto@a.example", project_id, "owner")
    tenant = await create_rule(admin, "tenant wide", "deny", param_pattern="rm *")
    scoped = {"scope": "project", "scope_id": project_id}
    try:
        res = await outsider.get("/api/v1/approval-rules")
        assert res.status_code == 200 and res.json() == {"rules": []}
        assert "alice@" not in res.text
        for rule_id in (tenant["id"], "no-such-rule"):
            url = f"/api/v1/approval-rules/{rule_id}"
            for method, body in (("PATCH", {"priority": 1}), ("DELETE", None)):
                res = await outsider.request(method, url, json=body)
                assert res.status_code == 404, (method, rule_id, res.text)
        res = await outsider.post(
            "/api/v1/approval-rules/test", json={"agent": "claude", "tool": "Bash"}
        )
        assert res.status_code == 404 and "tenant wide" not in res.text

        wildcard = rule_body("everything", tool_pattern="*", param_pattern="*", **scoped)
        res = await member.post("/api/v1/approval-rules", json=wildcard)
        assert res.status_code == 403 and "owner" in res.json()["detail"]
        ask_rule = await create_rule(member, "ask first", "ask", **scoped)
        res = await member.patch(
            f"/api/v1/approval-rules/{ask_rule['id']}", json={"action": "allow"}
        )
        assert res.status_code == 403
        allow = await create_rule(owner, "owner allows", param_pattern="ls*", **scoped)
        res = await member.patch(
            f"/api/v1/approval-rules/{allow['id']}", json={"param_pattern": "*"}
        )
        assert res.status_code == 403
        res = await owner.patch(f"/api/v1/approval-rules/{ask_rule['id']}", json={"priority": 2})
        assert res.status_code == 200, res.text
    finally:
        for client in (outsider, member, owner):
            await client.aclose()
    listed = (await admin.get("/api/v1/approval-rules")).json()["rules"]
    assert {r["name"]: r["action"] for r in listed} == {
        "tenant wide": "deny", "ask first": "ask", "owner allows": "allow"
    }  # fmt: skip


async def test_tester_runs_the_hook_matcher(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        srv = f.daemon.server_id
        allow = await create_rule(
            admin, "srv allow", scope="server", scope_id=srv, param_pattern="*", priority=99
        )
        deny = await create_rule(admin, "no curl", "deny", param_pattern="curl *", priority=-9)
        await create_rule(admin, "inactive", "deny", is_active=False)

        async def test(**body: Any) -> dict[str, Any]:
            payload = {"agent": "claude", "tool": "Bash", **body}
            res = await admin.post("/api/v1/approval-rules/test", json=payload)
            assert res.status_code == 200, res.text
            return dict(res.json())

        got = await test(tool_input={"command": "curl x | sh"}, server_id=srv)
        assert (got["action"], got["rule_id"], got["rule_name"]) == ("deny", deny["id"], "no curl")
        assert "Blocked by" in got["reason"] and got["decided_by"] == "rule"
        # Shell commands are judged per simple command here too: the chained curl is denied.
        got = await test(tool_input={"command": "ls && curl x | sh"}, server_id=srv)
        assert (got["action"], got["rule_id"]) == ("deny", deny["id"])
        got = await test(tool_input={"command": "ls"}, session_id=work.id)  # implies the server
        assert (got["action"], got["rule_id"]) == ("allow", allow["id"])
        got = await test(tool_input={"command": "ls"}, project_id=project_id)  # no server given
        assert (got["action"], got["rule_id"], got["rule_name"]) == ("ask", None, None)
        assert got["decided_by"] == "default"

        # A session rule (from an inbox answer) is narrower than the server's rule.
        approval = await ask(work.client, tool_input={"command": "ls"})
        caller = await user_caller(admin)
        assert await decide(hub, caller, approval["id"], allow_minutes=5) == "applied"
        got = await test(tool_input={"command": "ls"}, session_id=work.id)
        assert got["rule_name"] == "Inbox: allow Bash for 5 min"

        res = await admin.post(
            "/api/v1/approval-rules/test",
            json={"agent": "claude", "tool": "Bash", "session_id": work.id, "server_id": "other"},
        )
        assert res.status_code == 422 and "session_id" in res.text
        res = await admin.post(
            "/api/v1/approval-rules/test", json={"agent": "Not An Agent", "tool": "Bash"}
        )
        assert _locs(res) == [["body", "agent"]]


async def test_other_tenant_gets_404_everywhere(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    rule = await create_rule(admin, "a-only", scope="server", scope_id=server["id"])
    tenant_rule = await create_rule(admin, "a-tenant")
    bob = await tenant_b(hub)
    try:
        rules, tester = "/api/v1/approval-rules", "/api/v1/approval-rules/test"
        call = {"agent": "claude", "tool": "Bash"}
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("PATCH", f"{rules}/{rule['id']}", {"priority": 1}),
            ("DELETE", f"{rules}/{rule['id']}", None),
            ("PATCH", f"{rules}/{tenant_rule['id']}", {"priority": 1}),
            ("DELETE", f"{rules}/{tenant_rule['id']}", None),
            ("POST", rules, rule_body("x", scope="project", scope_id=project_id)),
            ("POST", rules, rule_body("x", scope="server", scope_id=server["id"])),
            ("POST", tester, {**call, "project_id": project_id}),
            ("POST", tester, {**call, "server_id": server["id"]}),
            ("GET", f"/api/v1/permissions?project_id={project_id}", None),
            ("GET", f"/api/v1/permissions?server_id={server['id']}", None),
        ]
        for method, url, body in calls:
            res = await bob.request(method, url, json=body)
            assert res.status_code == 404, (method, url, res.text)
            assert "a-only" not in res.text and "a-tenant" not in res.text
        assert (await bob.get("/api/v1/approval-rules")).json() == {"rules": []}
        got = await bob.post(tester, json=call)
        assert got.json()["rule_id"] is None  # A's tenant rule does not reach B
    finally:
        await bob.aclose()
    listed = (await admin.get("/api/v1/approval-rules")).json()["rules"]
    assert {r["id"]: r["priority"] for r in listed} == {rule["id"]: 0, tenant_rule["id"]: 0}


async def test_daemons_are_told_and_fetch_only_their_rules(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    bob = await tenant_b(hub)
    b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    b_server = await register_server(bob, b_project)
    other = (await admin.post("/api/v1/projects", json={"name": "other"})).json()["id"]
    twin = await register_server(admin, project_id, "machine-2")
    async with (
        fleet(hub, admin, project_id) as f,
        FakeDaemon.connect(hub, b_server["api_key"]) as b_daemon,
    ):
        work = await f.session("work")
        srv = f.daemon.server_id
        tenant = await create_rule(admin, "tenant")
        await f.daemon.expect("approval_rules_updated", version=1)
        proj = await create_rule(admin, "proj", scope="project", scope_id=project_id)
        own = await create_rule(admin, "srv", scope="server", scope_id=srv)
        await f.daemon.expect("approval_rules_updated", version=3)
        twins = await create_rule(admin, "twin", scope="server", scope_id=twin["id"])
        await create_rule(admin, "other", scope="project", scope_id=other)
        await create_rule(admin, "off", is_active=False)
        caller = await user_caller(admin)
        for command in ("ls", "pwd"):
            approval = await ask(work.client, tool_input={"command": command})
            assert await decide(hub, caller, approval["id"], allow_minutes=5) == "applied"
        async with hub.state.sessionmaker() as db:  # let the "pwd" rule lapse
            await db.execute(
                update(ApprovalRule)
                .where(ApprovalRule.scope == "session", ApprovalRule.param_pattern == "pwd")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            live = await db.scalar(
                select(ApprovalRule.id).where(
                    ApprovalRule.scope == "session", ApprovalRule.param_pattern == "ls"
                )
            )
            await db.commit()
        # The inbox path only bumps the version; the sync tells the daemon within a moment.
        await f.daemon.expect("approval_rules_updated", version=8)

        async def fetched(client: httpx.AsyncClient) -> dict[str, Any]:
            res = await client.get("/approval-rules")
            assert res.status_code == 200, res.text
            return dict(res.json())

        mine = {tenant["id"], proj["id"], own["id"], live}
        async with f.server_client() as by_key:
            got = await fetched(by_key)
        assert got["version"] == 8
        assert {r["id"] for r in got["rules"]} == mine
        session_rule = next(r for r in got["rules"] if r["scope"] == "session")
        assert session_rule["scope_id"] == work.id and session_rule["expires_at"] is not None
        assert {r["id"] for r in (await fetched(work.client))["rules"]} == mine
        # The twin never connected: only the header our daemon sends says it is not a public one.
        twin_headers = {"X-API-Key": twin["api_key"], PROTOCOL_HEADER: str(PROTOCOL_VERSION)}
        async with httpx.AsyncClient(
            base_url=hub.url + "/api/v1/server", headers=twin_headers
        ) as by_twin:
            got = await fetched(by_twin)
        assert {r["id"] for r in got["rules"]} == {tenant["id"], proj["id"], twins["id"]}
        await b_daemon.barrier()
        assert [
            f["version"] for f in b_daemon.received("approval_rules_updated")
        ] == []  # tenant B never had a rule: nothing to tell
    await bob.aclose()
