"""The human in the loop in a real browser on the real hub and daemon (issue 5, acceptance 5):
create an approval rule through the rules dialog (a bad RE2 pattern is refused next to its
field), ask the "would this match?" tester, watch a decision the daemon's key logs appear live in
the Permission dashboard with its counts and chart, then approve an ``ask`` from the inbox -
once, even though the first reply is lost and the browser sends the decision again - and a
bulk approval of several more."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in, open_page
from tests.e2e.hitl_support import SESSION, Rig
from tests.e2e.processes import ADMIN
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)


class LoseFirstReply:
    """Route handler for the decisions endpoint: the first request reaches the hub, but its
    reply never reaches the page (as when the connection drops after the hub committed); later
    requests go through. Records every request body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, route: Route) -> None:
        body = route.request.post_data_json
        assert body is not None, "a decision request without a body"
        self.bodies.append(body)
        if len(self.bodies) == 1:
            reached = route.fetch()
            assert reached.status == 200, reached.text()
            route.abort("connectionreset")
        else:
            route.continue_()


def test_rule_tester_live_log_and_inbox_approval(
    browser: Browser, rig: Rig, tmp_path: Path
) -> None:
    page = open_page(browser)
    log_in(page, rig.hub)
    page.click("nav >> text=Permissions")
    page.wait_for_url(re.compile(r"/permissions$"))
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator("#rules-empty")).to_be_visible()
    page.evaluate("window.__noReload = 1")

    # A rule through the dialog; RE2 refuses the unclosed group, and says so by the field.
    page.click("#new-rule")
    expect(page.locator("#rule-dialog")).to_be_visible()
    page.fill("#rule-name", "no force push")
    page.select_option("#rule-action", "deny")
    page.select_option("#rule-syntax", "regex")
    page.fill("#rule-tool", "Bash")
    page.fill("#rule-param", r"git push\s+(--force")
    page.click("#rule-submit")
    param_error = page.locator('#rule-form [data-error-for="param_pattern"]')
    expect(param_error).to_be_visible()
    expect(param_error).to_contain_text("Param pattern: Not a valid regex pattern for the RE2")
    expect(page.locator("#rule-param")).to_have_attribute("aria-invalid", "true")
    page.fill("#rule-param", r"git push\s+--force")
    page.click("#rule-submit")
    expect(page.locator("#rule-dialog")).to_be_hidden()
    row = page.locator(".rule-row")
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="name"]')).to_have_text("no force push")
    expect(row).to_have_attribute("data-action", "deny")
    rule_id = str(row.get_attribute("data-rule-id"))
    (stored,) = rig.api.get("/api/v1/approval-rules").json()["rules"]
    assert (stored["id"], stored["scope"], stored["scope_id"]) == (
        rule_id,
        "project",
        rig.project_id,
    )
    assert stored["pattern_syntax"] == "regex" and stored["param_pattern"] == r"git push\s+--force"

    # "Would this match?": the force push is denied by that rule; anything else asks a person.
    page.fill("#test-tool", "Bash")
    page.fill("#test-param", "git push --force origin main")
    page.click("#test-submit")
    expect(page.locator("#tester-action")).to_have_text("deny")
    expect(page.locator("#tester-rule")).to_have_text('matched rule "no force push"')
    expect(page.locator("#tester-reason")).not_to_be_empty()
    page.fill("#test-param", "git status")
    page.click("#test-submit")
    expect(page.locator("#tester-action")).to_have_text("ask")
    expect(page.locator("#tester-rule")).to_have_text("no rule matched")

    # A decision the hook made lands in the log live, with the counts and the chart.
    expect(page.locator("#count-denied")).to_have_text("0")
    entry_id = f"hook-{uuid.uuid4()}"
    logged = rig.agent.post(
        "/api/v1/server/permissions/log",
        json={
            "entries": [
                {
                    "id": entry_id,
                    "session_id": rig.session_id,
                    "agent": "claude",
                    "tool": "Bash",
                    "tool_input": {"command": "git push --force origin main"},
                    "decision": "denied",
                    "matched_rule_id": rule_id,
                    "decided_by": "rule",
                    "reason": "Denied by approval rule 'no force push'.",
                    "created_at": datetime.now(UTC).isoformat(),
                }
            ]
        },
    )
    assert logged.status_code == 201 and logged.json()["stored"] == 1, logged.text
    live_row = page.locator(f'#log-rows tr[data-entry-id="{entry_id}"]')
    expect(live_row).to_be_visible()
    expect(live_row.locator('[data-field="decision"]')).to_have_text("denied")
    expect(live_row.locator('[data-field="param"]')).to_have_text("git push --force origin main")
    expect(live_row.locator('[data-field="who"]')).to_have_text(f"{SESSION} @ {rig.server_name}")
    expect(live_row.locator('[data-field="decided-by"]')).to_have_text("rule no force push")
    expect(page.locator("#count-denied")).to_have_text("1")
    expect(page.locator("#count-allowed")).to_have_text("0")
    expect(page.locator('#log-chart .chart-bar[data-total="1"] .chart-denied')).to_have_count(1)
    expect(page.locator("#log-empty")).to_be_hidden()
    assert page.evaluate("window.__noReload === 1")
    page.screenshot(path=tmp_path / "permissions.png", full_page=True)

    # The inbox: an ask raised by the hook shows up live.
    page.click("#nav-inbox")
    page.wait_for_url(re.compile(r"/inbox$"))
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator("#inbox-empty")).to_be_visible()
    page.evaluate("window.__noReload = 2")
    asked = rig.ask("make deploy")
    item = page.locator(f'.inbox-item[data-key="tool_approval:{asked}"]')
    expect(item).to_be_visible()
    expect(item.locator('[data-field="title"]')).to_have_text("Bash")
    expect(item.locator('[data-field="detail"]')).to_have_text("make deploy")
    expect(item.locator('[data-field="who"]')).to_have_text(f"{SESSION} @ {rig.server_name}")
    expect(page.locator("#inbox-badge")).to_have_text("1")

    # Allow it for the session for 15 minutes. The hub applies the first request, but its reply
    # is lost; the item says so, and Retry resends the very same decision: applied once.
    lose = LoseFirstReply()
    page.route("**/api/v1/inbox/decisions", lose)
    item.locator('[name="allow_for"]').check()
    item.locator('[name="allow_minutes"]').fill("15")
    item.locator('[data-action="approve"]').click()
    expect(item).to_have_attribute("data-state", "unsent")
    expect(item.locator('[data-field="outcome"]')).to_contain_text("Not confirmed")
    assert rig.approval(asked)["status"] == "approved"  # the lost reply's request did apply
    expect(item.locator('[data-action="approve"]')).to_be_disabled()
    item.locator('[data-action="retry"]').click()
    expect(item).to_have_attribute("data-state", "already_applied")
    expect(item.locator('[data-field="outcome"]')).to_have_text("Already applied: allowed")
    page.unroute("**/api/v1/inbox/decisions")
    assert len(lose.bodies) == 2
    first, again = (body["decisions"] for body in lose.bodies)
    assert first == again, "a retry must resend the same decision"
    assert first[0]["decision_id"] and first[0]["allow_minutes"] == 15
    state = rig.approval(asked)
    assert state["status"] == "approved" and state["decided_by"] == ADMIN, state
    assert rig.audited("inbox.decided", asked) == 1
    assert rig.audited("approval.decided", asked) == 1
    rules = rig.api.get("/api/v1/approval-rules").json()["rules"]
    session_rules = [r for r in rules if r["scope"] == "session"]
    assert len(session_rules) == 1 and session_rules[0]["scope_id"] == rig.session_id
    assert session_rules[0]["action"] == "allow" and session_rules[0]["expires_at"]
    expect(page.locator("#inbox-count")).to_have_text("0")

    # Bulk: three more asks, selected together and approved in one go, each exactly once.
    more = [rig.ask(f"make test-{i}") for i in range(3)]
    for each in more:
        expect(page.locator(f'.inbox-item[data-key="tool_approval:{each}"]')).to_be_visible()
    expect(page.locator("#inbox-count")).to_have_text("3")
    page.check("#select-all")
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    page.click("#bulk-approve")
    for each in more:
        done = page.locator(f'.inbox-item[data-key="tool_approval:{each}"]')
        expect(done).to_have_attribute("data-state", "applied")
        expect(done.locator('[data-field="outcome"]')).to_have_text("Applied: allowed")
    for each in more:
        assert rig.approval(each)["status"] == "approved"
        assert rig.audited("inbox.decided", each) == 1
    expect(page.locator("#inbox-count")).to_have_text("0")
    expect(page.locator("#inbox-badge")).to_be_hidden()
    assert page.evaluate("window.__noReload === 2")
    page.click("#clear-settled")
    expect(page.locator(".inbox-item")).to_have_count(0)
    expect(page.locator("#inbox-empty")).to_be_visible()
    page.screenshot(path=tmp_path / "inbox.png", full_page=True)

    # On a phone both pages stack instead of pushing the page sideways.
    rig.ask("make phone")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/inbox", f"/permissions?project={rig.project_id}"):
        page.goto(rig.hub.url + path)
        expect(page.locator("#live-indicator")).to_have_text("live")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        page.screenshot(path=tmp_path / f"phone-{path[1:6]}.png", full_page=True)


def test_inbox_answers_help_plan_review_and_task_approval(browser: Browser, rig: Rig) -> None:
    """The other three kinds, each answered inline; what a person must say is checked before
    anything is sent, and the answers reach the agent's session."""
    settings = rig.api.patch(
        f"/api/v1/projects/{rig.project_id}/task-settings", json={"require_task_approval": True}
    )
    assert settings.status_code == 200, settings.text

    def assigned(title: str, **extra: Any) -> str:
        made = rig.api.post("/api/v1/tasks", json={"project_id": rig.project_id, "title": title})
        assert made.status_code == 201, made.text
        task_id = str(made.json()["id"])
        res = rig.api.post(
            f"/api/v1/tasks/{task_id}/assign", json={"session_id": rig.session_id, **extra}
        )
        assert res.status_code == 200, res.text
        return task_id

    stuck = assigned("Wire the port")
    rig.as_session("POST", f"/tasks/{stuck}/start")
    helped = rig.as_session(
        "POST", f"/tasks/{stuck}/help", question="Which port?", context="8080 is taken"
    )
    planned = assigned("Refactor auth", require_plan=True)
    rig.as_session("POST", f"/tasks/{planned}/plan", plan={"summary": "rewrite it all"})
    proposed = rig.as_session(
        "POST", "/tasks", title="Drop the staging DB", session_id=rig.session_id
    )
    assert proposed["pending_approval"] is True

    page = open_page(browser)
    log_in(page, rig.hub)
    page.goto(f"{rig.hub.url}/inbox?project={rig.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator(".inbox-item")).to_have_count(3)
    expect(page.locator("#inbox-badge")).to_have_text("3")
    # Bulk decisions are for tool calls and agent-made tasks only.
    expect(page.locator('.inbox-item [data-field="select"]')).to_have_count(1)

    # The help request: an empty answer is refused in place; the answer reaches the terminal.
    help_item = page.locator(f'.inbox-item[data-key="intervention:{helped["intervention_id"]}"]')
    expect(help_item.locator('[data-field="title"]')).to_have_text("Which port?")
    expect(help_item).to_contain_text("8080 is taken")
    help_item.locator('[data-action="respond"]').click()
    expect(help_item.locator('[data-field="error"]')).to_have_text("Type a response first.")
    help_item.locator('[name="response"]').fill("use port 9090")
    help_item.locator('[data-action="respond"]').click()
    expect(help_item.locator('[data-field="outcome"]')).to_have_text("Applied: answered")
    wait_sync(
        lambda: "use port 9090" in rig.received.read_text(errors="replace"),
        15,
        f"the response typed into the session ({rig.received})",
    )
    assert rig.received.read_text(errors="replace").count("use port 9090") == 1
    assert rig.task(stuck)["status"] == "running"

    # The plan: a revision needs feedback; the revised plan comes back live as a new question.
    plan_item = page.locator(f'.inbox-item[data-key="plan_review:{planned}"]')
    expect(plan_item.locator('[data-field="detail"]')).to_have_text("rewrite it all")
    plan_item.locator('[data-action="deny"]').click()
    expect(plan_item.locator('[data-field="error"]')).to_contain_text("needs feedback")
    plan_item.locator('[name="feedback"]').fill("smaller steps, please")
    plan_item.locator('[data-action="deny"]').click()
    expect(plan_item.locator('[data-field="outcome"]')).to_have_text("Applied: revision requested")
    assert rig.task(planned)["status"] == "planning"
    rig.as_session("POST", f"/tasks/{planned}/plan", plan={"summary": "three small steps"})
    expect(plan_item.locator('[data-field="detail"]')).to_have_text("three small steps")
    expect(plan_item).to_have_attribute("data-state", "pending")
    plan_item.locator('[data-action="approve"]').click()
    expect(plan_item.locator('[data-field="outcome"]')).to_have_text("Applied: plan approved")
    rig_task = rig.task(planned)
    assert rig_task["status"] == "running" and rig_task["plan"] == {"summary": "three small steps"}

    # The agent-made task: rejected with a reason, which cancels it.
    made_item = page.locator(f'.inbox-item[data-key="task_approval:{proposed["id"]}"]')
    made_item.locator('[name="feedback"]').fill("not without a backup")
    made_item.locator('[data-action="deny"]').click()
    expect(made_item.locator('[data-field="outcome"]')).to_have_text("Applied: task rejected")
    assert rig.task(proposed["id"])["status"] == "cancelled"
    expect(page.locator("#inbox-count")).to_have_text("0")
    expect(page.locator("#inbox-badge")).to_be_hidden()
