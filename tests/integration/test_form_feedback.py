"""What a person gets back from forms and pages: blank names refused, errors as sentences that name
the field, 404 pages that lead back where they came from, and a favicon (issue 11, item 25)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.approval_support import create_rule, rule_body
from tests.integration.running_hub import RunningHub

BLANK = " \t  "


def _messages(res: httpx.Response, field: str) -> list[str]:
    """The sentences of the 422 entries about ``field``."""
    assert res.status_code == 422, res.text
    return [e.get("message", "") for e in res.json()["detail"] if field in e["loc"]]


async def test_blank_names_are_refused(admin: httpx.AsyncClient, project_id: str) -> None:
    task = await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "Real"})
    assert task.status_code == 201, task.text
    rule = await create_rule(admin, "real", "ask")
    calls: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("POST", "/api/v1/tasks", {"project_id": project_id, "title": BLANK}, "title", "Title"),
        ("PATCH", f"/api/v1/tasks/{task.json()['id']}", {"title": BLANK}, "title", "Title"),
        ("POST", "/api/v1/pipelines", {"project_id": project_id, "tasks": [{"title": BLANK}]},
         "title", "Title in tasks.0"),
        ("POST", "/api/v1/projects", {"name": BLANK}, "name", "Name"),
        ("POST", "/api/v1/approval-rules", rule_body(BLANK), "name", "Name"),
        ("PATCH", f"/api/v1/approval-rules/{rule['id']}", {"name": BLANK}, "name", "Name"),
    ]  # fmt: skip
    for method, url, body, field, label in calls:
        res = await admin.request(method, url, json=body)
        assert _messages(res, field) == [f"{label} must not be blank."], (url, res.text)
    # The dashboard's own project form too (it used to store an empty name).
    res = await admin.post("/ui/projects", data={"name": BLANK})
    assert _messages(res, "name") == ["Name must not be blank."], res.text
    names = [p["name"] for p in (await admin.get("/api/v1/projects")).json()["projects"]]
    assert all(n.strip() for n in names), names


async def test_validation_errors_are_sentences_naming_the_field(
    admin: httpx.AsyncClient, project_id: str
) -> None:
    res = await admin.post(
        "/api/v1/tasks",
        json={"project_id": project_id, "title": "x" * 301, "priority": "urgent", "colour": 1},
    )
    assert res.status_code == 422, res.text
    messages = {e["loc"][-1]: e["message"] for e in res.json()["detail"]}
    assert messages == {
        "title": "Title must be at most 300 characters long.",
        "priority": "Priority must be one of 'low', 'normal', 'high' or 'critical'.",
        "colour": "Colour is not a field this form takes.",
    }
    res = await admin.post("/api/v1/tasks", json={"project_id": project_id})
    assert _messages(res, "title") == ["Title is required."]
    res = await admin.post("/api/v1/approval-rules", json=rule_body("r", priority="high"))
    assert _messages(res, "priority") == ["Priority must be a whole number."]


async def test_a_missing_task_page_leads_back_to_the_board(admin: httpx.AsyncClient) -> None:
    res = await admin.get(f"/tasks/{uuid.uuid4()}")
    assert res.status_code == 404
    assert '<a href="/tasks">Back to the task board</a>' in res.text, res.text
    assert 'href="/sessions">Back' not in res.text


async def test_favicon_is_an_icon(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        res = await anon.get("/favicon.ico")
        assert res.status_code == 200, res.text
        assert res.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
        # An ICO directory with at least one image, each a PNG inside.
        assert res.content[:4] == b"\x00\x00\x01\x00" and res.content[4] > 0
        assert b"\x89PNG\r\n\x1a\n" in res.content
        page = await anon.get("/login")
        assert '<link rel="icon" href="/favicon.ico"' in page.text
